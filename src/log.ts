/**
 * Structured logging: one JSON object per line on stderr, filtered by level.
 *
 * @module
 */
import type { LogLevel } from "./config.ts";

const RANK: Record<LogLevel, number> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
};

/** Fields attached to a log line. Errors are flattened to their message. */
export type LogFields = Record<string, unknown>;

/** A leveled logger writing JSON lines. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines all carry `fields`. */
  child(fields: LogFields): Logger;
}

function plain(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? value.message : `${value.message} (${String(code)})`;
  }
  return value;
}

/**
 * Creates a logger that writes lines at `level` and above.
 *
 * @param level Lowest level written.
 * @param write Where a finished line goes. @default a write to stderr
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => console.error(line),
  base: LogFields = {},
): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[lvl] < min) return;
    const record: LogFields = {
      time: new Date().toISOString(),
      level: lvl,
      msg,
      ...base,
    };
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        record[key] = plain(value);
      }
    }
    write(JSON.stringify(record));
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (fields) => createLogger(level, write, { ...base, ...fields }),
  };
}

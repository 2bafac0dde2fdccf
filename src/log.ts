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

/** JSON of a record; never throws (BigInts become strings, cycles are cut). */
function serialise(record: LogFields): string {
  try {
    return JSON.stringify(
      record,
      (_key, value) => typeof value === "bigint" ? String(value) : value,
    );
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(record, (_key, value) => {
      if (typeof value === "bigint") return String(value);
      if (typeof value === "object" && value !== null) {
        if (seen.has(value)) return "[circular]";
        seen.add(value);
      }
      return value;
    });
  }
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
    write(serialise(record));
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (fields) => createLogger(level, write, { ...base, ...fields }),
  };
}

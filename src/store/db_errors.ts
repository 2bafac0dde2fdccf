/**
 * Database errors classified by kind, where they are born: **transient**
 * (the database is busy, locked, failing I/O, full, read-only, unreachable,
 * or its schema is not what this process expects: not the event's fault,
 * retry later) or **deterministic** (anything else, such as a constraint or
 * a trigger refusing one row: retrying the same rows fails again). Also
 * which errors can leave a local connection unusable. Pure.
 *
 * @module
 */

/** How a database error is handled. */
export type DbErrorKind = "transient" | "deterministic";

/** Codes (SQLite's, libSQL client's, Node's network ones) of failures that are not the rows' fault. */
const TRANSIENT_CODES = [
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_IOERR",
  "SQLITE_FULL",
  "SQLITE_READONLY",
  "SQLITE_CANTOPEN",
  "SQLITE_NOMEM",
  "SQLITE_PROTOCOL",
  "SQLITE_INTERRUPT",
  "SQLITE_CORRUPT",
  "SQLITE_NOTADB",
  "SQLITE_AUTH",
  "SQLITE_PERM",
  "CLIENT_CLOSED",
  "TRANSACTION_CLOSED",
  "HRANA_WEBSOCKET_ERROR",
  "HRANA_CLOSED_ERROR",
  "SERVER_ERROR",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
];

/** Messages of the same, for errors that carry no code (or a generic one). */
const TRANSIENT_MESSAGE =
  /database is (?:locked|busy)|disk I\/O error|database or disk is full|readonly database|unable to open database|statements in progress|the database writer is closed|fetch failed|network|timed? ?out|unreachable|connection (?:refused|reset|closed)|no such (?:table|column|index|function)|has no column named/i;

/** Errors after which a local connection may stay broken and is replaced. */
const BREAKING = /BUSY|LOCKED|in progress|CLIENT_CLOSED|IOERR|READONLY|FULL|CANTOPEN|closed/i;

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The kind of a database error (see the module comment); unknown errors are deterministic. */
export function classifyDbError(err: unknown): DbErrorKind {
  const code = codeOf(err);
  if (TRANSIENT_CODES.some((c) => code === c || code.startsWith(`${c}_`))) return "transient";
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause !== undefined && cause !== err && classifyDbError(cause) === "transient") {
    return "transient";
  }
  return TRANSIENT_MESSAGE.test(messageOf(err)) ? "transient" : "deterministic";
}

/** One line naming a database error: its code, when it has one, and its message. */
export function describeDbError(err: unknown): string {
  const code = codeOf(err);
  const message = messageOf(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/** True when `err` can leave a local connection unusable: the connection is replaced. */
export function mayBreakConnection(err: unknown): boolean {
  return BREAKING.test(`${codeOf(err)} ${messageOf(err)}`);
}

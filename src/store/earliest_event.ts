/**
 * The earliest event by stream sequence decides: of all the events for one
 * `session_id`, the one the stream received first sets the session's row,
 * whatever order they are delivered, committed or redelivered in, by how
 * many workers. Within a batch the earliest of a session's events is kept;
 * against the database, an event earlier than the stored version appends a
 * correction (never an in-place change), a later one is a duplicate. Each
 * processed event either becomes the current version or loses to it, so the
 * version left at the end is the earliest event, in any order. Pure.
 *
 * @module
 */
import type { CurrentVersion, IncomingSessionEnd } from "./session_end_sql.ts";

/** What an event does to its session, given the stored version. */
export type Decision =
  /** No version stored: the row is inserted. */
  | "insert"
  /** Earlier in the stream than the stored version: a correction is appended. */
  | "correct"
  /** Not earlier (a redelivery, a repeat, the `normal` after an `idle_timeout`): nothing is written. */
  | "duplicate"
  /** Stored for another tenant: not this tenant's to correct; quarantined. */
  | "conflict";

/**
 * The earliest event of each session in `rows`, at the place of the
 * session's first event (so rows keep their order otherwise). Returns
 * `rows` itself when no session repeats.
 */
export function earliestBySession(rows: IncomingSessionEnd[]): IncomingSessionEnd[] {
  const at = new Map<string, number>();
  const kept: IncomingSessionEnd[] = [];
  let repeated = false;
  for (const row of rows) {
    const index = at.get(row.event.sessionId);
    if (index === undefined) {
      at.set(row.event.sessionId, kept.length);
      kept.push(row);
    } else {
      repeated = true;
      if (row.streamSeq < kept[index].streamSeq) kept[index] = row;
    }
  }
  return repeated ? kept : rows;
}

/** What `incoming` does given its session's `current` version (undefined: none stored). */
export function decide(
  current: CurrentVersion | undefined,
  incoming: IncomingSessionEnd,
): Decision {
  if (current === undefined) return "insert";
  if (current.tenantId !== incoming.event.tenantId) return "conflict";
  // A version outside the chain cannot be linked to a correction: it stands.
  if (current.chainSeq === null) return "duplicate";
  return incoming.streamSeq < current.streamSeq ? "correct" : "duplicate";
}

/** The error kept with an event quarantined as a {@linkcode Decision} `conflict`. */
export function conflictError(incoming: IncomingSessionEnd, current: CurrentVersion): string {
  return `session_id ${incoming.event.sessionId} is stored for tenant ${current.tenantId}; ` +
    `this event names tenant ${incoming.event.tenantId}`;
}

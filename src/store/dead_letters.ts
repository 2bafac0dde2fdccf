/**
 * Reading and replaying quarantined messages: the dead-letter list (newest
 * first, keyset-paged on `id`), the lookup of one, and its replay through
 * today's validation.
 *
 * A dead letter already replayed is not replayed again (409 at the API).
 * A replay that now validates is stored with the ingest path's own
 * {@linkcode storeBatch} (the earliest event by stream sequence decides: it
 * is stored, corrects the stored version, or is a duplicate), then the dead
 * letter is kept and marked `replayed_at` / `replay_outcome` (`stored`,
 * `corrected` or `duplicate`): quarantined evidence is never deleted. The two steps are
 * two transactions; if the mark is lost, replaying again answers `duplicate`
 * and marks it. A message that is still invalid stays quarantined, with its
 * `error` replaced by today's reason.
 *
 * @module
 */
import type { InStatement, Row } from "@libsql/client";
import { decodeSessionEnd, DEFAULT_CLOCK_SKEW_MS } from "../event.ts";
import type { Database } from "./client.ts";
import { nullableNumber } from "./row.ts";
import { storeBatch } from "./commit.ts";
import type { DeadLetter } from "./session_end_sql.ts";

/** What a successful replay did to the trail. */
export type ReplayKind = "stored" | "corrected" | "duplicate";

const REPLAY_KINDS: readonly string[] = ["stored", "corrected", "duplicate"];

function isReplayKind(value: unknown): value is ReplayKind {
  return typeof value === "string" && REPLAY_KINDS.includes(value);
}

/** A dead letter as stored: the message quarantined, and what became of it. */
export interface DeadLetterRow extends DeadLetter {
  id: number;
  quarantinedAt: number;
  replayedAt: number | null;
  replayOutcome: ReplayKind | null;
}

const COLUMNS = "id, stream, stream_seq, subject, payload, error, received_at, quarantined_at, " +
  "replayed_at, replay_outcome";

/** Builds one page of the list, newest first: `limit + 1` rows with an id below `beforeId`. */
export function listDeadLettersSql(limit: number, beforeId?: number): InStatement {
  return beforeId === undefined
    ? { sql: `SELECT ${COLUMNS} FROM dead_letters ORDER BY id DESC LIMIT ?`, args: [limit + 1] }
    : {
      sql: `SELECT ${COLUMNS} FROM dead_letters WHERE id < ? ORDER BY id DESC LIMIT ?`,
      args: [beforeId, limit + 1],
    };
}

/** Builds the lookup of one dead letter. */
export function getDeadLetterSql(id: number): InStatement {
  return { sql: `SELECT ${COLUMNS} FROM dead_letters WHERE id = ?`, args: [id] };
}

function bytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  // a payload written as text by another tool
  return new TextEncoder().encode(String(value));
}

/** Maps a row of these queries to a {@linkcode DeadLetterRow}. */
export function toDeadLetter(row: Row): DeadLetterRow {
  const outcome = row.replay_outcome;
  return {
    id: Number(row.id),
    stream: String(row.stream),
    streamSeq: Number(row.stream_seq),
    subject: String(row.subject),
    payload: bytes(row.payload),
    error: String(row.error),
    receivedAt: Number(row.received_at),
    quarantinedAt: Number(row.quarantined_at),
    replayedAt: nullableNumber(row, "replayed_at"),
    replayOutcome: isReplayKind(outcome) ? outcome : null,
  };
}

/** What a replay did. */
export type ReplayOutcome =
  | { kind: "not_found" }
  | { kind: "already_replayed"; replayedAt: number; outcome: ReplayKind }
  | { kind: ReplayKind; sessionId: string }
  | { kind: "invalid"; reason: string };

/**
 * Re-validates dead letter `id` with today's rules (an `end_time` more than
 * `skewMs` after the stream received it is flagged, as ingest does) and
 * stores it when it now passes (see the module comment for what happens to
 * the dead letter).
 */
export async function replayDeadLetter(
  db: Database,
  id: number,
  now: number = Date.now(),
  skewMs: number = DEFAULT_CLOCK_SKEW_MS,
): Promise<ReplayOutcome> {
  const rs = await db.execute(getDeadLetterSql(id));
  if (rs.rows.length === 0) return { kind: "not_found" };
  const letter = toDeadLetter(rs.rows[0]);
  if (letter.replayedAt !== null) {
    return {
      kind: "already_replayed",
      replayedAt: letter.replayedAt,
      outcome: letter.replayOutcome ?? "stored",
    };
  }
  const decoded = decodeSessionEnd(letter.payload, { receivedAt: letter.receivedAt, skewMs });
  if (!decoded.ok) return await stillInvalid(db, id, decoded.reason);
  const { stream, streamSeq, subject, payload, receivedAt } = letter;
  const outcome = await storeBatch(
    db,
    [{ stream, streamSeq, subject, payload, receivedAt, event: decoded.event }],
    [],
    now,
  );
  const conflict = outcome.quarantined.get(letter.streamSeq);
  if (conflict !== undefined) return await stillInvalid(db, id, conflict);
  const sessionId = decoded.event.sessionId;
  const kind: ReplayKind = outcome.inserted.has(sessionId)
    ? "stored"
    : outcome.corrected.has(sessionId)
    ? "corrected"
    : "duplicate";
  await db.execute({
    sql: "UPDATE dead_letters SET replayed_at = ?, replay_outcome = ? WHERE id = ?",
    args: [now, kind, id],
  });
  return { kind, sessionId };
}

/** Keeps a dead letter quarantined, its error replaced by today's `reason`. */
async function stillInvalid(db: Database, id: number, reason: string): Promise<ReplayOutcome> {
  await db.execute({ sql: "UPDATE dead_letters SET error = ? WHERE id = ?", args: [reason, id] });
  return { kind: "invalid", reason };
}

/**
 * Writing session ends and dead letters: one transaction per batch, the
 * first event for a `session_id` wins and later ones are reported as
 * duplicates.
 *
 * @module
 */
import type { InStatement } from "@libsql/client";
import type { SessionEnd } from "../event.ts";
import type { Database } from "./client.ts";

/** A valid event and where it came from in the stream. */
export interface IncomingSessionEnd {
  event: SessionEnd;
  streamSeq: number;
  /** When the stream received the message, epoch milliseconds. */
  receivedAt: number;
}

/** A message that failed validation, kept verbatim. */
export interface DeadLetter {
  stream: string;
  streamSeq: number;
  subject: string;
  payload: Uint8Array;
  error: string;
  receivedAt: number;
}

/** Rows per multi-row INSERT (at most 12 parameters each, far below SQLite's limit). */
export const INSERT_CHUNK = 500;

const SESSION_COLUMNS = [
  "session_id",
  "tenant_id",
  "device_id",
  "user_id",
  "start_time",
  "end_time",
  "duration_seconds",
  "source_ip",
  "reason",
  "sort_time",
  "stream_seq",
  "recorded_at",
] as const;

const DEAD_LETTER_COLUMNS = [
  "stream",
  "stream_seq",
  "subject",
  "payload",
  "error",
  "received_at",
  "quarantined_at",
] as const;

function placeholders(columns: number, rows: number): string {
  const row = `(${new Array(columns).fill("?").join(", ")})`;
  return new Array(rows).fill(row).join(", ");
}

/**
 * Builds the multi-row INSERTs for session ends. Rows keep their order, so
 * of two events for one session in a batch the earlier one is kept.
 * Each statement returns the `session_id`s it actually inserted.
 */
export function insertSessionEndsSql(
  rows: IncomingSessionEnd[],
  recordedAt: number,
): InStatement[] {
  const statements: InStatement[] = [];
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const chunk = rows.slice(i, i + INSERT_CHUNK);
    const args = [];
    for (const { event, streamSeq, receivedAt } of chunk) {
      args.push(
        event.sessionId,
        event.tenantId,
        event.deviceId,
        event.userId,
        event.startTime,
        event.endTime,
        event.durationSeconds,
        event.sourceIp,
        event.reason,
        event.endTime ?? receivedAt,
        streamSeq,
        recordedAt,
      );
    }
    statements.push({
      sql: `INSERT INTO session_ends (${SESSION_COLUMNS.join(", ")}) VALUES ${
        placeholders(SESSION_COLUMNS.length, chunk.length)
      } ON CONFLICT (session_id) DO NOTHING RETURNING session_id`,
      args,
    });
  }
  return statements;
}

/**
 * Builds the INSERTs for dead letters, {@linkcode INSERT_CHUNK} rows each so a
 * large batch stays under SQLite's limit on parameters; a redelivered one is
 * not stored twice.
 */
export function insertDeadLettersSql(
  letters: DeadLetter[],
  quarantinedAt: number,
): InStatement[] {
  const statements: InStatement[] = [];
  for (let i = 0; i < letters.length; i += INSERT_CHUNK) {
    const chunk = letters.slice(i, i + INSERT_CHUNK);
    const args = [];
    for (const letter of chunk) {
      args.push(
        letter.stream,
        letter.streamSeq,
        letter.subject,
        letter.payload,
        letter.error,
        letter.receivedAt,
        quarantinedAt,
      );
    }
    statements.push({
      sql: `INSERT INTO dead_letters (${DEAD_LETTER_COLUMNS.join(", ")}) VALUES ${
        placeholders(DEAD_LETTER_COLUMNS.length, chunk.length)
      } ON CONFLICT (stream, stream_seq, received_at) DO NOTHING`,
      args,
    });
  }
  return statements;
}

/** What one committed batch did. */
export interface BatchOutcome {
  /** `session_id`s inserted by this batch; the other valid events were duplicates. */
  inserted: Set<string>;
}

/**
 * Stores session ends and dead letters in one write transaction. When it
 * resolves, everything is committed; when it rejects, nothing is.
 */
export async function storeBatch(
  db: Database,
  rows: IncomingSessionEnd[],
  deadLetters: DeadLetter[],
  now: number = Date.now(),
): Promise<BatchOutcome> {
  const statements = [
    ...insertSessionEndsSql(rows, now),
    ...insertDeadLettersSql(deadLetters, now),
  ];
  const inserted = new Set<string>();
  if (statements.length === 0) return { inserted };
  const results = await db.batch(statements, "write");
  const sessionStatements = Math.ceil(rows.length / INSERT_CHUNK);
  for (let i = 0; i < sessionStatements; i++) {
    for (const row of results[i].rows) inserted.add(String(row.session_id));
  }
  return { inserted };
}

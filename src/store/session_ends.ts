/**
 * Writing session ends and dead letters: one transaction per batch, the
 * first event for a `session_id` wins and later ones are reported as
 * duplicates; each new row extends its tenant's hash chain inside that
 * same transaction.
 *
 * @module
 */
import type { InStatement, InValue } from "@libsql/client";
import type { SessionEnd } from "../event.ts";
import { canonicalRow, chainHash, type ChainHead, GENESIS_HASH } from "../integrity/chain.ts";
import type { Database, WriteTx } from "./client.ts";

/** A valid event and where it came from in the stream. */
export interface IncomingSessionEnd {
  event: SessionEnd;
  streamSeq: number;
  /** When the stream received the message, epoch milliseconds. */
  receivedAt: number;
  /** The row's place in its tenant's hash chain; absent for rows written outside the chain. */
  chain?: ChainHead;
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

/**
 * Rows per multi-row INSERT: 14,000 parameters at most, below SQLite's limit of
 * 32,766. Each statement is one trip to the database's thread, so fewer,
 * larger statements keep a 4,000-row transaction short.
 */
export const INSERT_CHUNK = 1000;

/** Sizes of statements shorter than {@linkcode INSERT_CHUNK}. */
export const TAIL_SIZES: readonly number[] = [1, 4, 16, 64, 256];

/**
 * `items` cut into statements of a few fixed sizes: as many
 * {@linkcode INSERT_CHUNK}s as fit, then one last chunk padded up to the next
 * of {@linkcode TAIL_SIZES} (or a full chunk) by repeating its first item.
 *
 * Fixed sizes keep the statement texts to a small set that the writer
 * prepares once and reuses (a 1,000-row INSERT compiles to a program of a few
 * megabytes; a fresh one per batch would pile up native memory until a
 * garbage collection), and one tail statement instead of a string of smaller
 * ones saves trips to the database's thread. Every statement built on it
 * must therefore be idempotent on a repeated row: `ON CONFLICT … DO NOTHING`,
 * an upsert to the same values, or an `IN` list.
 */
export function chunked<T>(items: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let offset = 0;
  for (; offset + INSERT_CHUNK <= items.length; offset += INSERT_CHUNK) {
    chunks.push(items.slice(offset, offset + INSERT_CHUNK));
  }
  const tail = items.slice(offset);
  if (tail.length > 0) {
    const size = TAIL_SIZES.find((s) => s >= tail.length) ?? INSERT_CHUNK;
    while (tail.length < size) tail.push(tail[0]);
    chunks.push(tail);
  }
  return chunks;
}

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
  "chain_seq",
  "chain_hash",
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
 * A session already stored is skipped (`ON CONFLICT DO NOTHING`).
 */
export function insertSessionEndsSql(
  rows: IncomingSessionEnd[],
  recordedAt: number,
): InStatement[] {
  const statements: InStatement[] = [];
  for (const chunk of chunked(rows)) {
    const args: InValue[] = [];
    for (const { event, streamSeq, receivedAt, chain } of chunk) {
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
        chain?.seq ?? null,
        chain?.hash ?? null,
      );
    }
    statements.push({
      sql: `INSERT INTO session_ends (${SESSION_COLUMNS.join(", ")}) VALUES ${
        placeholders(SESSION_COLUMNS.length, chunk.length)
      } ON CONFLICT (session_id) DO NOTHING`,
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
  for (const chunk of chunked(letters)) {
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

/** `sql(placeholders)` over `values`, in {@linkcode chunked} statements. */
function chunkedIn(values: string[], sql: (placeholders: string) => string): InStatement[] {
  const statements: InStatement[] = [];
  for (const chunk of chunked(values)) {
    statements.push({ sql: sql(chunk.map(() => "?").join(", ")), args: chunk });
  }
  return statements;
}

async function readAll(tx: WriteTx, statements: InStatement[]) {
  return (await Promise.all(statements.map((s) => tx.execute(s)))).flatMap((rs) => rs.rows);
}

/**
 * Keeps the first event of each session not stored yet, in order, and gives
 * each its place in its tenant's chain. Pure; `heads` is updated in place.
 */
export function chainNewRows(
  rows: IncomingSessionEnd[],
  stored: Set<string>,
  heads: Map<string, ChainHead>,
  recordedAt: number,
): IncomingSessionEnd[] {
  const fresh: IncomingSessionEnd[] = [];
  const seen = new Set(stored);
  for (const row of rows) {
    const { event } = row;
    if (seen.has(event.sessionId)) continue;
    seen.add(event.sessionId);
    const head = heads.get(event.tenantId) ?? { seq: 0, hash: GENESIS_HASH };
    const seq = head.seq + 1;
    const hash = chainHash(head.hash, canonicalRow({ ...event, chainSeq: seq, recordedAt }));
    heads.set(event.tenantId, { seq, hash });
    fresh.push({ ...row, chain: { seq, hash } });
  }
  return fresh;
}

/**
 * Stores session ends and dead letters in one write transaction. When it
 * resolves, everything is committed; when it rejects, nothing is.
 *
 * Inside the transaction (no other writer can interleave, so two workers
 * sharing a database keep each chain linear) it reads which sessions are
 * already stored and the chain heads of the batch's tenants, then inserts
 * only the new rows with their chain positions and moves the heads.
 */
export async function storeBatch(
  db: Database,
  rows: IncomingSessionEnd[],
  deadLetters: DeadLetter[],
  now: number = Date.now(),
): Promise<BatchOutcome> {
  if (rows.length === 0 && deadLetters.length === 0) return { inserted: new Set() };
  return await db.writeTransaction(async (tx) => {
    const ids = [...new Set(rows.map((r) => r.event.sessionId))];
    const tenants = [...new Set(rows.map((r) => r.event.tenantId))];
    const stored = new Set(
      (await readAll(
        tx,
        chunkedIn(ids, (p) => `SELECT session_id FROM session_ends WHERE session_id IN (${p})`),
      )).map((r) => String(r.session_id)),
    );
    const heads = new Map<string, ChainHead>(
      (await readAll(
        tx,
        chunkedIn(
          tenants,
          (p) => `SELECT tenant_id, seq, hash FROM chain_heads WHERE tenant_id IN (${p})`,
        ),
      )).map((r) => [String(r.tenant_id), { seq: Number(r.seq), hash: String(r.hash) }]),
    );
    const fresh = chainNewRows(rows, stored, heads, now);
    const moved = [...new Set(fresh.map((r) => r.event.tenantId))];
    // Every row given a chain position must be inserted, or the chain would have a hole.
    // (Counted with total_changes(): RETURNING rows would hold native memory until a GC.)
    const changes = async () => Number((await tx.execute("SELECT total_changes() AS n")).rows[0].n);
    const before = await changes();
    await tx.batch(insertSessionEndsSql(fresh, now));
    const inserted = await changes() - before;
    if (inserted !== fresh.length) {
      throw new Error(
        `${
          fresh.length - inserted
        } of ${fresh.length} session ends read as new were already stored; batch rolled back`,
      );
    }
    const statements = insertDeadLettersSql(deadLetters, now);
    for (const tenants of chunked(moved)) {
      const headArgs: InValue[] = [];
      for (const tenant of tenants) {
        const head = heads.get(tenant) as ChainHead;
        headArgs.push(tenant, head.seq, head.hash);
      }
      statements.push({
        sql: `INSERT INTO chain_heads (tenant_id, seq, hash) VALUES ${
          placeholders(3, tenants.length)
        }
              ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
        args: headArgs,
      });
    }
    await tx.batch(statements);
    return { inserted: new Set(fresh.map((r) => r.event.sessionId)) };
  });
}

/**
 * The SQL of storing session ends and dead letters: pure builders of the
 * multi-row INSERTs (a few fixed statement sizes, arguments in arrays sized
 * once), the reads that confirm a batch's chain, and the upsert of the chain
 * heads. No I/O: the integer keys of the ids come from id_keys.ts's
 * `resolveRowKeys`.
 *
 * @module
 */
import type { InStatement, InValue } from "@libsql/client";
import type { SessionEnd } from "../event.ts";
import { CHAIN_VERSION } from "../integrity/canonical.ts";
import type { ChainHead } from "../integrity/chain.ts";
import { STORED_COLUMNS } from "./columns.ts";

/** Where a message came from: enough to store it, or to quarantine it verbatim. */
export interface MessageOrigin {
  stream: string;
  streamSeq: number;
  subject: string;
  payload: Uint8Array;
  /** When the stream received the message, epoch milliseconds. */
  receivedAt: number;
}

/** A session's current version as stored: what a later event for it is compared with. */
export interface CurrentVersion {
  /** The row's `id`. */
  id: number;
  tenantId: string;
  /** The stream sequence of the event that decided it. */
  streamSeq: number;
  /** Its place in its tenant's chain (null for a row written outside the chain). */
  chainSeq: number | null;
}

/** A session end with a valid identity, and the message it came from. */
export interface IncomingSessionEnd extends MessageOrigin {
  event: SessionEnd;
  /** The row's place in its tenant's hash chain; absent for rows written outside the chain. */
  chain?: ChainHead;
  /** The version this row corrects (an earlier event decides: `earliest_event.ts`). */
  corrects?: CurrentVersion;
}

/** A message quarantined, kept verbatim with the reason. */
export interface DeadLetter extends MessageOrigin {
  error: string;
}

/** `row`'s message as a dead letter with `error`. */
export function deadLetterOf(row: MessageOrigin, error: string): DeadLetter {
  return {
    stream: row.stream,
    streamSeq: row.streamSeq,
    subject: row.subject,
    payload: row.payload,
    error,
    receivedAt: row.receivedAt,
  };
}

/**
 * Rows per multi-row INSERT: 21,000 parameters at most, below SQLite's limit of
 * 32,766. Each statement is one trip to the database's thread, so fewer,
 * larger statements keep a 2,500-row transaction short.
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
 * must therefore be idempotent on a repeated row: `INSERT OR IGNORE`, `ON CONFLICT … DO NOTHING`,
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

const SESSION_COLUMNS = [...STORED_COLUMNS, "tenant_key", "device_key", "user_key"] as const;

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
 * Builds the multi-row INSERTs for session ends, with the integer `keys` of
 * their ids (`resolveRowKeys` in id_keys.ts). Rows keep their order, so of two events for one
 * session in a batch the earlier one is kept. A row that breaks a constraint
 * (a session already stored, a chain position taken) is skipped, not an
 * error: `INSERT OR IGNORE`, so that SQLite keeps no statement journal (the
 * pages a 1,000-row statement changes, several megabytes, held in memory to
 * undo it alone). The caller counts the rows inserted.
 */
export function insertSessionEndsSql(
  rows: IncomingSessionEnd[],
  recordedAt: number,
  keys: ReadonlyMap<string, number>,
): InStatement[] {
  const key = (id: string | null) => {
    if (id === null) return null;
    const found = keys.get(id);
    if (found === undefined) throw new Error(`no key resolved for ${id}`);
    return found;
  };
  const statements: InStatement[] = [];
  for (const chunk of chunked(rows)) {
    // Sized once: 21,000 arguments pushed one by one would reallocate the array a dozen times.
    const args = new Array<InValue>(chunk.length * SESSION_COLUMNS.length);
    let at = 0;
    for (const { event, streamSeq, receivedAt, chain, corrects } of chunk) {
      args[at++] = event.sessionId;
      args[at++] = event.tenantId;
      args[at++] = event.deviceId;
      args[at++] = event.userId;
      args[at++] = event.startTime;
      args[at++] = event.endTime;
      args[at++] = event.durationSeconds;
      args[at++] = event.sourceIp;
      args[at++] = event.sourcePort;
      args[at++] = event.reason;
      args[at++] = event.anomalies.length === 0 ? null : JSON.stringify(event.anomalies);
      args[at++] = event.endTime ?? receivedAt;
      args[at++] = streamSeq;
      args[at++] = recordedAt;
      args[at++] = CHAIN_VERSION;
      args[at++] = chain?.seq ?? null;
      args[at++] = chain?.hash ?? null;
      args[at++] = corrects?.chainSeq ?? null;
      args[at++] = key(event.tenantId);
      args[at++] = key(event.deviceId);
      args[at++] = key(event.userId);
    }
    statements.push({
      sql: `INSERT OR IGNORE INTO session_ends (${SESSION_COLUMNS.join(", ")}) VALUES ${
        placeholders(SESSION_COLUMNS.length, chunk.length)
      }`,
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

/**
 * `sql(list)` with `list` a subquery over the JSON array of `values`: one
 * statement and one parameter however many values there are.
 */
function inJsonList(values: string[], sql: (list: string) => string): InStatement {
  return { sql: sql("SELECT value FROM json_each(?)"), args: [JSON.stringify(values)] };
}

/**
 * Reads the current versions of the sessions `ids` that are stored already
 * (columns `id`, `session_id`, `tenant_id`, `stream_seq`, `chain_seq`).
 */
export function currentVersionsSql(ids: string[]): InStatement {
  return inJsonList(
    ids,
    (list) =>
      `SELECT id, session_id, tenant_id, stream_seq, chain_seq FROM session_ends
       WHERE session_id IN (${list}) AND corrected_by IS NULL`,
  );
}

/**
 * Builds the marks of the versions that `rows` correct: each gets the
 * position of its correction in `corrected_by`, before the correction is
 * inserted (one current version per session). Rare: one statement each.
 */
export function markCorrectedSql(rows: IncomingSessionEnd[]): InStatement[] {
  const statements: InStatement[] = [];
  for (const { chain, corrects } of rows) {
    if (corrects === undefined || chain === undefined) continue;
    statements.push({
      sql: "UPDATE session_ends SET corrected_by = ? WHERE id = ? AND corrected_by IS NULL",
      args: [chain.seq, corrects.id],
    });
  }
  return statements;
}

/** Reads the chain heads of `tenants` (columns `tenant_id`, `seq`, `hash`). */
export function chainHeadsSql(tenants: string[]): InStatement {
  return inJsonList(
    tenants,
    (list) => `SELECT tenant_id, seq, hash FROM chain_heads WHERE tenant_id IN (${list})`,
  );
}

/** Builds the upserts that move the chain heads of `moved` tenants to their `heads`. */
export function upsertChainHeadsSql(
  moved: string[],
  heads: ReadonlyMap<string, ChainHead>,
): InStatement[] {
  const statements: InStatement[] = [];
  for (const tenants of chunked(moved)) {
    const headArgs: InValue[] = [];
    for (const tenant of tenants) {
      const head = heads.get(tenant) as ChainHead;
      headArgs.push(tenant, head.seq, head.hash);
    }
    statements.push({
      sql: `INSERT INTO chain_heads (tenant_id, seq, hash) VALUES ${placeholders(3, tenants.length)}
            ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
      args: headArgs,
    });
  }
  return statements;
}

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
import { canonicalRow, chainHash, type ChainHead, GENESIS_HEAD } from "../integrity/chain.ts";
import type { Database, WriteTx } from "./client.ts";
import { type Execute, type IdKeyCache, resolveKeys } from "./id_keys.ts";

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
 * Rows per multi-row INSERT: 17,000 parameters at most, below SQLite's limit of
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
  "tenant_key",
  "device_key",
  "user_key",
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

/** The ids of `rows` that have integer keys in the indexes (see src/store/id_keys.ts). */
function* keyedIds(rows: Iterable<IncomingSessionEnd>): Generator<string> {
  for (const { event } of rows) {
    yield event.tenantId;
    yield event.deviceId;
    if (event.userId !== null) yield event.userId;
  }
}

/**
 * The integer keys of the ids of `rows`, for {@linkcode insertSessionEndsSql}
 * ({@linkcode resolveKeys}: from `cache` when known, created and read with
 * `execute` otherwise).
 */
export function resolveRowKeys(
  execute: Execute,
  rows: Iterable<IncomingSessionEnd>,
  cache?: IdKeyCache,
): Promise<Map<string, number>> {
  return resolveKeys(execute, keyedIds(rows), cache);
}

/**
 * Builds the multi-row INSERTs for session ends, with the integer `keys` of
 * their ids ({@linkcode resolveRowKeys}). Rows keep their order, so of two events for one
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
    // Sized once: 17,000 arguments pushed one by one would reallocate the array a dozen times.
    const args = new Array<InValue>(chunk.length * SESSION_COLUMNS.length);
    let at = 0;
    for (const { event, streamSeq, receivedAt, chain } of chunk) {
      args[at++] = event.sessionId;
      args[at++] = event.tenantId;
      args[at++] = event.deviceId;
      args[at++] = event.userId;
      args[at++] = event.startTime;
      args[at++] = event.endTime;
      args[at++] = event.durationSeconds;
      args[at++] = event.sourceIp;
      args[at++] = event.reason;
      args[at++] = event.endTime ?? receivedAt;
      args[at++] = streamSeq;
      args[at++] = recordedAt;
      args[at++] = chain?.seq ?? null;
      args[at++] = chain?.hash ?? null;
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

/** What one committed batch did. */
export interface BatchOutcome {
  /** `session_id`s inserted by this batch; the other valid events were duplicates. */
  inserted: Set<string>;
}

/**
 * `sql(list)` with `list` a subquery over the JSON array of `values`: one
 * statement and one parameter however many values there are.
 */
function inJsonList(values: string[], sql: (list: string) => string): InStatement {
  return { sql: sql("SELECT value FROM json_each(?)"), args: [JSON.stringify(values)] };
}

/**
 * {@linkcode chainNewRows} as steps: yields after every `slice` rows
 * (never with the default), returns the rows kept.
 */
function* chainSteps(
  rows: IncomingSessionEnd[],
  stored: Set<string>,
  heads: Map<string, ChainHead>,
  recordedAt: number,
  slice = Infinity,
): Generator<void, IncomingSessionEnd[]> {
  const fresh: IncomingSessionEnd[] = [];
  const seen = new Set(stored);
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && i % slice === 0) yield;
    const row = rows[i];
    const { event } = row;
    if (seen.has(event.sessionId)) continue;
    seen.add(event.sessionId);
    const head = heads.get(event.tenantId) ?? GENESIS_HEAD;
    const seq = head.seq + 1;
    const hash = chainHash(head.hash, canonicalRow({ ...event, chainSeq: seq, recordedAt }));
    heads.set(event.tenantId, { seq, hash });
    fresh.push({ ...row, chain: { seq, hash } });
  }
  return fresh;
}

/** Runs steps through without pausing; returns their result. */
function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
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
  return runSteps(chainSteps(rows, stored, heads, recordedAt));
}

/**
 * What one process knows of its tenants' chain heads, so that the next
 * batch's chain can be computed before its transaction, while the previous
 * batch commits. A guess only: {@linkcode commitBatch} checks it against the
 * database (another worker may have moved a head) and computes the chain
 * again when it is wrong.
 */
export class ChainHeadCache {
  /** The heads this process's commits left. */
  #committed = new Map<string, ChainHead>();
  /** The same, moved on by the batches prepared and not committed yet. */
  #expected = new Map<string, ChainHead>();
  #generation = 0;

  /** Changes whenever a batch did not commit as prepared: batches prepared before are stale. */
  get generation(): number {
    return this.#generation;
  }

  /** The head `tenant` is expected to have when the next batch commits. */
  expected(tenant: string): ChainHead {
    return this.#expected.get(tenant) ?? GENESIS_HEAD;
  }

  /**
   * Records the heads a batch prepared from this cache's `generation` will
   * leave; nothing if the cache has moved to another generation since.
   */
  prepared(heads: Map<string, ChainHead>, generation: number): void {
    if (generation !== this.#generation) return;
    for (const [tenant, head] of heads) this.#expected.set(tenant, head);
  }

  /** Records the heads a commit left; `asPrepared` false when its chain was computed again. */
  committed(heads: Map<string, ChainHead>, asPrepared: boolean): void {
    for (const [tenant, head] of heads) this.#committed.set(tenant, head);
    if (!asPrepared) this.reset();
  }

  /**
   * Forgets what the batches prepared and not committed were expected to do
   * (after a failed transaction, or when a prepared batch is dropped): the
   * ones prepared so far are stale.
   */
  reset(): void {
    this.#expected = new Map(this.#committed);
    this.#generation++;
  }
}

/** A batch ready for {@linkcode commitBatch}, its chain perhaps computed ahead. */
export interface PreparedBatch {
  rows: IncomingSessionEnd[];
  deadLetters: DeadLetter[];
  /** `recorded_at` of every row, part of each chain hash. */
  recordedAt: number;
  /** The chain computed ahead of the transaction, when a cache was given. */
  ahead?: {
    /** {@linkcode ChainHeadCache.generation} when it was computed. */
    generation: number;
    /** The heads it started from, one per tenant of the batch. */
    assumed: Map<string, ChainHead>;
    /** The first event of each session, with its chain position. */
    fresh: IncomingSessionEnd[];
    /** The heads after the batch. */
    heads: Map<string, ChainHead>;
  };
}

/**
 * Readies a batch for {@linkcode commitBatch}. With a `cache`, computes its
 * chain positions now, assuming that none of its sessions is stored yet and
 * that each tenant's head is the one the cache expects, and records the
 * heads the batch will leave in the cache. No I/O.
 */
export function prepareBatch(
  rows: IncomingSessionEnd[],
  deadLetters: DeadLetter[],
  cache?: ChainHeadCache,
  recordedAt: number = Date.now(),
): PreparedBatch {
  if (cache === undefined) return { rows, deadLetters, recordedAt };
  return runSteps(prepareSteps(rows, deadLetters, cache, recordedAt));
}

/**
 * {@linkcode prepareBatch} with a `pause` after every `slice` rows, so that
 * hashing a large batch does not keep the JavaScript thread from the
 * database's completions (and the event loop) for tens of milliseconds.
 * A commit that lands during a pause and changes the cache's generation
 * makes this batch stale, as if it had been prepared before it.
 */
export async function prepareBatchInSlices(
  rows: IncomingSessionEnd[],
  deadLetters: DeadLetter[],
  cache: ChainHeadCache,
  pause: () => Promise<void>,
  slice: number,
  recordedAt: number = Date.now(),
): Promise<PreparedBatch> {
  const steps = prepareSteps(rows, deadLetters, cache, recordedAt, slice);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await pause();
  }
}

/** {@linkcode prepareBatch} with a cache, as steps of `slice` rows. */
function* prepareSteps(
  rows: IncomingSessionEnd[],
  deadLetters: DeadLetter[],
  cache: ChainHeadCache,
  recordedAt: number,
  slice?: number,
): Generator<void, PreparedBatch> {
  if (rows.length === 0) return { rows, deadLetters, recordedAt };
  const generation = cache.generation;
  const assumed = new Map<string, ChainHead>();
  for (const { event } of rows) {
    if (!assumed.has(event.tenantId)) assumed.set(event.tenantId, cache.expected(event.tenantId));
  }
  const heads = new Map(assumed);
  const fresh = yield* chainSteps(rows, new Set(), heads, recordedAt, slice);
  cache.prepared(heads, generation);
  return { rows, deadLetters, recordedAt, ahead: { generation, assumed, fresh, heads } };
}

function sameHead(a: ChainHead, b: ChainHead | undefined): boolean {
  return b !== undefined && a.seq === b.seq && a.hash === b.hash;
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
  return await commitBatch(db, prepareBatch(rows, deadLetters, undefined, now));
}

/**
 * Commits a prepared batch in one write transaction, as
 * {@linkcode storeBatch} describes. A chain computed ahead is used when the
 * transaction confirms what it assumed (no session of the batch stored,
 * every head as expected); otherwise (a redelivered session, another
 * worker's rows, a failed earlier batch) the chain is computed inside the
 * transaction. `cache` learns how the batch went.
 */
export async function commitBatch(
  db: Database,
  batch: PreparedBatch,
  cache?: ChainHeadCache,
): Promise<BatchOutcome> {
  const { rows, deadLetters, recordedAt, ahead } = batch;
  if (rows.length === 0 && deadLetters.length === 0) return { inserted: new Set() };
  try {
    const written = await db.writeTransaction(async (tx) => {
      const chained = rows.length > 0 ? await chainInTransaction(tx, batch) : undefined;
      let keys: Map<string, number> | undefined;
      if (chained) {
        keys = await resolveRowKeys((stmt) => tx.execute(stmt), chained.fresh, db.idKeys);
        await insertChained(tx, chained.fresh, chained.heads, recordedAt, keys);
      }
      await tx.batch(insertDeadLettersSql(deadLetters, recordedAt));
      return chained && { ...chained, keys };
    });
    if (written?.keys) db.idKeys.learn(written.keys);
    if (written) cache?.committed(written.heads, written.fresh === ahead?.fresh);
    return { inserted: new Set(written?.fresh.map((r) => r.event.sessionId)) };
  } catch (err) {
    cache?.reset();
    throw err;
  }
}

/**
 * Reads which of the batch's sessions are stored and its tenants' heads;
 * returns the chain computed ahead if it holds, or computes it again.
 */
async function chainInTransaction(
  tx: WriteTx,
  { rows, recordedAt, ahead }: PreparedBatch,
): Promise<{ fresh: IncomingSessionEnd[]; heads: Map<string, ChainHead> }> {
  const ids = [...new Set(rows.map((r) => r.event.sessionId))];
  const tenants = [...new Set(rows.map((r) => r.event.tenantId))];
  const [stored, current] = await Promise.all([
    tx.execute(inJsonList(
      ids,
      (list) => `SELECT session_id FROM session_ends WHERE session_id IN (${list})`,
    )),
    tx.execute(inJsonList(
      tenants,
      (list) => `SELECT tenant_id, seq, hash FROM chain_heads WHERE tenant_id IN (${list})`,
    )),
  ]);
  const heads = new Map<string, ChainHead>(
    current.rows.map((r) => [String(r.tenant_id), { seq: Number(r.seq), hash: String(r.hash) }]),
  );
  const holds = ahead !== undefined && stored.rows.length === 0 &&
    tenants.every((tenant) =>
      sameHead(heads.get(tenant) ?? GENESIS_HEAD, ahead.assumed.get(tenant))
    );
  if (holds) return { fresh: ahead.fresh, heads: ahead.heads };
  const fresh = chainNewRows(
    rows,
    new Set(stored.rows.map((r) => String(r.session_id))),
    heads,
    recordedAt,
  );
  return { fresh, heads };
}

/** Inserts chained rows and moves their tenants' heads; rolls back if any row was not new. */
async function insertChained(
  tx: WriteTx,
  fresh: IncomingSessionEnd[],
  heads: Map<string, ChainHead>,
  recordedAt: number,
  keys: ReadonlyMap<string, number>,
): Promise<void> {
  if (fresh.length === 0) return;
  // Every row given a chain position must be inserted, or the chain would have a hole; the
  // INSERTs skip a row that breaks a constraint, so they are counted (with total_changes():
  // RETURNING rows would hold native memory until a GC).
  const changes = async () => Number((await tx.execute("SELECT total_changes() AS n")).rows[0].n);
  const before = await changes();
  await tx.batch(insertSessionEndsSql(fresh, recordedAt, keys));
  const inserted = await changes() - before;
  if (inserted !== fresh.length) {
    throw new Error(
      `${
        fresh.length - inserted
      } of ${fresh.length} session ends read as new were not inserted (already stored, or their chain position taken); batch rolled back`,
    );
  }
  const moved = [...new Set(fresh.map((r) => r.event.tenantId))];
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
  await tx.batch(statements);
}

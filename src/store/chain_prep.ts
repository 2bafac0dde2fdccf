/**
 * Chain preparation: each new session end's place in its tenant's hash
 * chain, computed ahead of the write transaction from a speculative cache of
 * the chain heads ({@linkcode ChainHeadCache}), and confirmed (or computed
 * again) against what the transaction reads. Pure: no I/O.
 *
 * @module
 */
import { canonicalRow, chainHash, type ChainHead, GENESIS_HEAD } from "../integrity/chain.ts";
import type { DeadLetter, IncomingSessionEnd } from "./session_end_sql.ts";

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
 * batch commits. A guess only: `commitBatch` (commit.ts) checks it against the
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

/** A batch ready for `commitBatch` (commit.ts), its chain perhaps computed ahead. */
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
 * Readies a batch for `commitBatch` (commit.ts). With a `cache`, computes its
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

/** The chain a batch's transaction writes: the rows it inserts and the heads they leave. */
export interface BatchChain {
  /** The first event of each session not stored yet, in order, with its chain position. */
  fresh: IncomingSessionEnd[];
  /** The heads after the batch, one per tenant of the batch. */
  heads: Map<string, ChainHead>;
}

/**
 * The chain of `batch` given what its transaction read: `stored`, the
 * batch's sessions already stored, and `heads`, the current heads of its
 * `tenants` (absent for a tenant with no row yet). The chain computed ahead
 * when it holds (no session stored, every head as assumed); otherwise the
 * chain computed again from these, `heads` moved in place.
 */
export function confirmChain(
  { rows, recordedAt, ahead }: PreparedBatch,
  tenants: string[],
  stored: string[],
  heads: Map<string, ChainHead>,
): BatchChain {
  const holds = ahead !== undefined && stored.length === 0 &&
    tenants.every((tenant) =>
      sameHead(heads.get(tenant) ?? GENESIS_HEAD, ahead.assumed.get(tenant))
    );
  if (holds) return { fresh: ahead.fresh, heads: ahead.heads };
  const fresh = chainNewRows(rows, new Set(stored), heads, recordedAt);
  return { fresh, heads };
}

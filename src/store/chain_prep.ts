/**
 * Chain preparation: each new session end's place in its tenant's hash
 * chain, computed ahead of the write transaction from a speculative cache of
 * the chain heads ({@linkcode ChainHeadCache}), and confirmed (or computed
 * again) against what the transaction reads. Pure: no I/O.
 *
 * @module
 */
import { canonicalRowV2 } from "../integrity/canonical.ts";
import { chainHash, type ChainHead, GENESIS_HEAD } from "../integrity/chain.ts";
import { decide, earliestBySession } from "./earliest_event.ts";
import type { CurrentVersion, DeadLetter, IncomingSessionEnd } from "./session_end_sql.ts";

/** The rows a batch writes, and those it quarantines instead. */
export interface ChainedRows {
  /**
   * The earliest event of each session that is not stored yet, or that is
   * earlier than its stored version (a correction, with `corrects`), in
   * order, each with its chain position.
   */
  fresh: IncomingSessionEnd[];
  /** Events whose session is stored for another tenant. */
  conflicts: readonly Conflict[];
}

/** An event whose session is stored for another tenant, and that stored version. */
export interface Conflict {
  row: IncomingSessionEnd;
  current: CurrentVersion;
}

const NO_CONFLICTS: readonly Conflict[] = Object.freeze([]);

/**
 * {@linkcode chainNewRows} as steps: yields after every `slice` rows
 * (never with the default), returns the rows kept.
 */
function* chainSteps(
  rows: IncomingSessionEnd[],
  current: ReadonlyMap<string, CurrentVersion>,
  heads: Map<string, ChainHead>,
  recordedAt: number,
  slice = Infinity,
): Generator<void, ChainedRows> {
  const fresh: IncomingSessionEnd[] = [];
  let conflicts: Conflict[] | undefined;
  const earliest = earliestBySession(rows);
  for (let i = 0; i < earliest.length; i++) {
    if (i > 0 && i % slice === 0) yield;
    const row = earliest[i];
    const { event } = row;
    const stored = current.size === 0 ? undefined : current.get(event.sessionId);
    const decision = decide(stored, row);
    if (decision === "duplicate") continue;
    if (decision === "conflict" && stored) {
      (conflicts ??= []).push({ row, current: stored });
      continue;
    }
    const corrects = decision === "correct" ? stored : undefined;
    const head = heads.get(event.tenantId) ?? GENESIS_HEAD;
    const seq = head.seq + 1;
    const hash = chainHash(
      head.hash,
      canonicalRowV2({
        ...event,
        chainSeq: seq,
        recordedAt,
        streamSeq: row.streamSeq,
        corrects: corrects?.chainSeq ?? null,
      }),
    );
    heads.set(event.tenantId, { seq, hash });
    fresh.push(
      corrects ? { ...row, chain: { seq, hash }, corrects } : { ...row, chain: { seq, hash } },
    );
  }
  return { fresh, conflicts: conflicts ?? NO_CONFLICTS };
}

const NOTHING_STORED: ReadonlyMap<string, CurrentVersion> = new Map();

/** Runs steps through without pausing; returns their result. */
function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * Keeps the earliest event of each session, decides what each does against
 * its `current` stored version (`earliest_event.ts`), and gives each row to
 * write its place in its tenant's chain. Pure; `heads` is updated in place.
 */
export function chainNewRows(
  rows: IncomingSessionEnd[],
  current: ReadonlyMap<string, CurrentVersion>,
  heads: Map<string, ChainHead>,
  recordedAt: number,
): ChainedRows {
  return runSteps(chainSteps(rows, current, heads, recordedAt));
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
    /** The earliest event of each session, with its chain position. */
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
  const { fresh } = yield* chainSteps(rows, NOTHING_STORED, heads, recordedAt, slice);
  cache.prepared(heads, generation);
  return { rows, deadLetters, recordedAt, ahead: { generation, assumed, fresh, heads } };
}

function sameHead(a: ChainHead, b: ChainHead | undefined): boolean {
  return b !== undefined && a.seq === b.seq && a.hash === b.hash;
}

/** The chain a batch's transaction writes: the rows it inserts, the heads they leave, and its conflicts. */
export interface BatchChain extends ChainedRows {
  /** The heads after the batch, one per tenant of the batch. */
  heads: Map<string, ChainHead>;
}

/**
 * The chain of `batch` given what its transaction read: `current`, the
 * stored versions of the batch's sessions, and `heads`, the current heads of
 * its `tenants` (absent for a tenant with no row yet). The chain computed
 * ahead when it holds (no session stored, every head as assumed); otherwise
 * the chain computed again from these, `heads` moved in place.
 */
export function confirmChain(
  { rows, recordedAt, ahead }: PreparedBatch,
  tenants: string[],
  current: ReadonlyMap<string, CurrentVersion>,
  heads: Map<string, ChainHead>,
): BatchChain {
  const holds = ahead !== undefined && current.size === 0 &&
    tenants.every((tenant) =>
      sameHead(heads.get(tenant) ?? GENESIS_HEAD, ahead.assumed.get(tenant))
    );
  if (holds) return { fresh: ahead.fresh, conflicts: NO_CONFLICTS, heads: ahead.heads };
  return { ...chainNewRows(rows, current, heads, recordedAt), heads };
}

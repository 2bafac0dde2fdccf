/**
 * Settling a batch with the server after its transaction: ack after the
 * commit (stored or duplicate), term a quarantined message after its dead
 * letter is committed, nak with a growing delay when the transaction failed.
 * Nothing is acked before the commit.
 *
 * @module
 */
import type { JsMsg } from "@nats-io/jetstream";
import { type Clock, systemTimers, wallClock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Readiness } from "../readiness.ts";
import type { DecodedBatch } from "./decode.ts";
import { retryDelay } from "./retry_gate.ts";
import type { ChainHeadCache, PreparedBatch } from "../store/chain_prep.ts";
import type { BatchOutcome } from "../store/commit.ts";
import { nextTurn, SLICE } from "./turns.ts";

/** Commits a prepared batch in one transaction (rejects when it fails). */
export type Commit = (prepared: PreparedBatch, heads: ChainHeadCache) => Promise<BatchOutcome>;

/** What settling needs. */
export interface SettleDeps {
  logger: Logger;
  metrics: Metrics;
  readiness: Readiness;
  /** Called after a commit that stored new rows (wakes live feeds). */
  onStored?: () => void;
  /**
   * The clocks of the commit histograms: `monotonic` times a commit, `wall`
   * (epoch ms) measures each message's lag from its publish time.
   * @default performance.now() and Date.now()
   */
  clocks?: { monotonic: Clock; wall: Clock };
}

const SYSTEM_CLOCKS = { monotonic: systemTimers, wall: wallClock };

/** How a batch went: its messages, the consecutive failure count, and its acks going out. */
export interface BatchResult {
  messages: JsMsg[];
  /** Consecutive failed batches after this one: 0 when it was committed. */
  failures: number;
  /** Resolves once its acks and terms have gone out. Never rejects. */
  settled: Promise<void>;
}

const NOTHING_TO_SETTLE = Promise.resolve();

/**
 * Commits one decoded batch and settles each message: ack after commit
 * (stored or duplicate), term after its dead letter is committed (both
 * starting on the event loop's next turn, in `settled`), nak with
 * {@linkcode retryDelay} when the transaction fails. `failures` counts the
 * failed batches before this one. Never rejects.
 */
export async function commitAndSettle(
  commit: Commit,
  batch: DecodedBatch,
  prepared: PreparedBatch,
  heads: ChainHeadCache,
  failures: number,
  deps: SettleDeps,
): Promise<BatchResult> {
  const { metrics, logger, readiness } = deps;
  const { monotonic } = deps.clocks ?? SYSTEM_CLOCKS;
  let inserted: Set<string>;
  const started = monotonic.now();
  try {
    ({ inserted } = await commit(prepared, heads));
  } catch (err) {
    const failed = failures + 1;
    readiness.fail("database", `cannot write: ${(err as Error).message}`);
    metrics.add("session_audit_batch_failures_total", 1);
    metrics.countEvents("retried", batch.messages.length);
    const delay = retryDelay(failed);
    for (const msg of batch.messages) msg.nak(delay);
    logger.warn("batch not stored; messages nak'd for redelivery", {
      error: err,
      messages: batch.messages.length,
      consecutive_failures: failed,
    });
    return { messages: batch.messages, failures: failed, settled: NOTHING_TO_SETTLE };
  }
  if (failures > 0) {
    logger.info("database writable again", { after_failures: failures });
  }
  readiness.ok("database");
  metrics.add("session_audit_batches_total", 1);
  metrics.histogram("session_audit_batch_commit_duration_seconds")
    .observe((monotonic.now() - started) / 1000);
  metrics.histogram("session_audit_batch_size_messages").observe(batch.messages.length);
  if (inserted.size > 0) deps.onStored?.();
  return { messages: batch.messages, failures: 0, settled: ackAfterCommit(batch, inserted, deps) };
}

/**
 * Acks a committed batch's messages (terms its quarantined ones, without a
 * reason: nats-server 2.9 ignores a term that has one), counts them, and
 * observes each one's lag from its publish to now, the commit.
 * `inserted` holds the session ids the commit inserted: the first event
 * for each in the batch is stored, the others are duplicates. Starts on the
 * event loop's next turn, so that the next batch's transaction (started as
 * soon as the commit is reported) is already on the database's thread, and
 * lets the loop run every {@linkcode SLICE} messages, so that the
 * transaction's statements are not kept waiting. Never rejects.
 */
export async function ackAfterCommit(
  batch: DecodedBatch,
  inserted: Set<string>,
  deps: SettleDeps,
): Promise<void> {
  const { metrics, logger } = deps;
  const committedAtMs = (deps.clocks ?? SYSTEM_CLOCKS).wall.now();
  const lag = metrics.histogram("session_audit_end_to_end_lag_seconds");
  let stored = 0;
  let duplicates = 0;
  let i = 0;
  try {
    for (const d of batch.decoded) {
      if (i++ % SLICE === 0) await nextTurn();
      // A publish time ahead of this clock (skew between hosts) counts as no lag.
      lag.observe(Math.max(0, committedAtMs - d.msg.info.timestampNanos / 1e6) / 1000);
      if (d.kind === "invalid") {
        d.msg.term();
        logger.warn("event quarantined", {
          subject: d.letter.subject,
          stream_seq: d.letter.streamSeq,
          reason: d.letter.error,
        });
        continue;
      }
      d.msg.ack();
      // The first event for a session in this batch is the one that was inserted.
      if (inserted.delete(d.row.event.sessionId)) stored++;
      else duplicates++;
    }
  } catch (err) {
    // The connection closed under us: the rest comes back after the ack wait, and is absorbed
    // as duplicates.
    logger.warn("cannot acknowledge a committed batch; the server will redeliver it", {
      error: err,
      messages: batch.messages.length,
      acknowledged: i - 1,
    });
  }
  metrics.countEvents("stored", stored);
  metrics.countEvents("duplicate", duplicates);
  metrics.countEvents("quarantined", batch.letters.length);
  logger.debug("batch stored", {
    messages: batch.messages.length,
    stored,
    duplicates,
    quarantined: batch.letters.length,
  });
}

/**
 * The one batch being committed at a time, and the acks of the batches
 * committed before it, still going out.
 */
export class CommitSlot {
  readonly #commit: Commit;
  readonly #deps: SettleDeps;
  #committing: Promise<BatchResult> | undefined;
  #settling: Promise<void> = NOTHING_TO_SETTLE;

  constructor(commit: Commit, deps: SettleDeps) {
    this.#commit = commit;
    this.#deps = deps;
  }

  /** Starts committing `batch`; the one before must have been {@linkcode CommitSlot.finish}ed. */
  start(
    batch: DecodedBatch,
    prepared: PreparedBatch,
    heads: ChainHeadCache,
    failures: number,
  ): void {
    this.#committing = commitAndSettle(this.#commit, batch, prepared, heads, failures, this.#deps);
  }

  /**
   * Waits for the batch being committed, if any, and returns how it went;
   * its acks go on going out (see {@linkcode CommitSlot.settled}).
   */
  async finish(): Promise<BatchResult | undefined> {
    if (this.#committing === undefined) return undefined;
    const result = await this.#committing;
    this.#committing = undefined;
    // Slices of acks can overlap: a small batch's may end before a large one's before it.
    this.#settling = Promise.all([this.#settling, result.settled]).then(() => {});
    return result;
  }

  /** Resolves once the acks of every batch finished so far have gone out. */
  settled(): Promise<void> {
    return this.#settling;
  }
}

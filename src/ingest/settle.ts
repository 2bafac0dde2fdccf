/**
 * Settling a batch with the server after its transaction: ack after the
 * commit (stored, corrected or duplicate), term a quarantined message after
 * its dead letter is committed, nak with a growing delay when the
 * transaction failed transiently; a batch refused deterministically goes
 * through poison isolation (`isolate.ts`) first. Nothing is acked before the
 * commit.
 *
 * @module
 */
import type { JsMsg } from "@nats-io/jetstream";
import { type Clock, systemTimers, wallClock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { QuarantineClass } from "../quarantine.ts";
import type { Readiness } from "../readiness.ts";
import type { DecodedBatch } from "./decode.ts";
import { isolatePoison } from "./isolate.ts";
import { retryDelay } from "./retry_gate.ts";
import type { ChainHeadCache, PreparedBatch } from "../store/chain_prep.ts";
import type { BatchOutcome } from "../store/commit.ts";
import { classifyDbError, describeDbError } from "../store/db_errors.ts";
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

/** How each message of a batch is settled once its transaction (or its parts) committed. */
export interface Settlement {
  outcome: BatchOutcome;
  /** Stream sequences quarantined because the database refused their row, with its error. */
  refused: ReadonlyMap<number, string>;
  /** Stream sequences neither stored nor quarantined: nak'd with `retryDelayMs`. */
  retry: ReadonlySet<number>;
  /** The redelivery delay of `retry`, ms. */
  retryDelayMs: number;
}

const NO_REFUSALS: ReadonlyMap<number, string> = new Map();
const NO_RETRIES: ReadonlySet<number> = new Set();

/** The settlement of a batch committed whole. */
export function committed(outcome: BatchOutcome): Settlement {
  return { outcome, refused: NO_REFUSALS, retry: NO_RETRIES, retryDelayMs: 0 };
}

/** Naks every message of a batch whose transaction failed transiently; says why on /readyz. */
function failed(
  batch: DecodedBatch,
  err: unknown,
  failures: number,
  deps: SettleDeps,
): BatchResult {
  const { metrics, logger, readiness } = deps;
  const failedCount = failures + 1;
  readiness.fail("database", `cannot write (transient): ${describeDbError(err)}`);
  metrics.add("session_audit_batch_failures_total", 1);
  metrics.countEvents("retried", batch.messages.length);
  const delay = retryDelay(failedCount);
  for (const msg of batch.messages) msg.nak(delay);
  logger.warn("batch not stored; messages nak'd for redelivery", {
    error: err,
    error_kind: "transient",
    messages: batch.messages.length,
    consecutive_failures: failedCount,
  });
  return { messages: batch.messages, failures: failedCount, settled: NOTHING_TO_SETTLE };
}

/**
 * Commits one decoded batch and settles each message: ack after commit
 * (stored, corrected or duplicate), term after its dead letter is committed
 * (both starting on the event loop's next turn, in `settled`). A transient
 * failure naks every message with {@linkcode retryDelay}; a deterministic
 * one isolates the messages that cause it (`isolate.ts`), which are
 * quarantined, and settles the rest. `failures` counts the failed batches
 * before this one. Never rejects.
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
  const started = monotonic.now();
  let settlement: Settlement;
  try {
    settlement = committed(await commit(prepared, heads));
  } catch (err) {
    if (classifyDbError(err) === "transient") return failed(batch, err, failures, deps);
    metrics.add("session_audit_batch_failures_total", 1);
    logger.warn("batch refused by the database; isolating the messages that cause it", {
      error: err,
      error_kind: "deterministic",
      messages: batch.messages.length,
    });
    const isolated = await isolatePoison(commit, batch, heads);
    if (isolated.transient !== undefined) {
      readiness.fail(
        "database",
        `cannot write (transient): ${describeDbError(isolated.transient)}`,
      );
    }
    const retrying = batch.messages.filter((m) => isolated.retry.has(m.info.streamSequence));
    if (retrying.length > 0) {
      const failedCount = failures + 1;
      metrics.countEvents("retried", retrying.length);
      const settlementOf = { ...isolated, retryDelayMs: retryDelay(failedCount) };
      return {
        messages: retrying,
        failures: failedCount,
        settled: ackAfterCommit(batch, settlementOf, deps),
      };
    }
    settlement = { ...isolated, retryDelayMs: 0 };
  }
  if (failures > 0) {
    logger.info("database writable again", { after_failures: failures });
  }
  readiness.ok("database");
  metrics.add("session_audit_batches_total", 1);
  metrics.histogram("session_audit_batch_commit_duration_seconds")
    .observe((monotonic.now() - started) / 1000);
  metrics.histogram("session_audit_batch_size_messages").observe(batch.messages.length);
  const { outcome } = settlement;
  if (outcome.inserted.size > 0 || outcome.corrected.size > 0) deps.onStored?.();
  return {
    messages: batch.messages,
    failures: 0,
    settled: ackAfterCommit(batch, settlement, deps),
  };
}

/** Logs and counts one quarantined message; terms it (without a reason: 2.9 ignores one). */
function quarantine(
  msg: JsMsg,
  cls: QuarantineClass,
  reason: string,
  deps: SettleDeps,
): void {
  msg.term();
  deps.metrics.countQuarantined(cls);
  deps.logger.warn("event quarantined", {
    subject: msg.subject,
    stream_seq: msg.info.streamSequence,
    class: cls,
    reason,
  });
}

/**
 * Settles a committed batch's messages as `settlement` says and counts
 * them: acks the stored, corrected and duplicate ones (the first event
 * written for a stream sequence counts as stored or corrected, the others
 * as duplicates), terms the quarantined ones, naks the ones to retry, and
 * observes each settled one's lag from its publish to now, the commit.
 * Starts on the event loop's next turn, so that the next batch's
 * transaction (started as soon as the commit is reported) is already on
 * the database's thread, and lets the loop run every {@linkcode SLICE}
 * messages, so that the transaction's statements are not kept waiting.
 * Never rejects.
 */
export async function ackAfterCommit(
  batch: DecodedBatch,
  settlement: Settlement,
  deps: SettleDeps,
): Promise<void> {
  const { metrics, logger } = deps;
  const { outcome, refused, retry } = settlement;
  const written = new Set(outcome.written);
  const committedAtMs = (deps.clocks ?? SYSTEM_CLOCKS).wall.now();
  const lag = metrics.histogram("session_audit_end_to_end_lag_seconds");
  let stored = 0;
  let corrected = 0;
  let duplicates = 0;
  let i = 0;
  try {
    for (const d of batch.decoded) {
      if (i++ % SLICE === 0) await nextTurn();
      const seq = d.msg.info.streamSequence;
      if (retry.has(seq)) {
        d.msg.nak(settlement.retryDelayMs);
        continue;
      }
      // A publish time ahead of this clock (skew between hosts) counts as no lag.
      lag.observe(Math.max(0, committedAtMs - d.msg.info.timestampNanos / 1e6) / 1000);
      if (d.kind === "invalid") {
        quarantine(d.msg, d.class, d.letter.error, deps);
        continue;
      }
      const conflict = outcome.quarantined.get(seq);
      const refusal = refused.get(seq);
      if (conflict !== undefined) quarantine(d.msg, "conflict", conflict, deps);
      else if (refusal !== undefined) quarantine(d.msg, "database", refusal, deps);
      else {
        d.msg.ack();
        if (!written.delete(seq)) {
          duplicates++;
          continue;
        }
        if (outcome.corrected.has(d.row.event.sessionId)) corrected++;
        else stored++;
        metrics.countAnomalies(d.row.event.anomalies);
      }
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
  metrics.countEvents("corrected", corrected);
  metrics.countEvents("duplicate", duplicates);
  logger.debug("batch stored", {
    messages: batch.messages.length,
    stored,
    corrected,
    duplicates,
    quarantined: batch.letters.length + outcome.quarantined.size + refused.size,
  });
}

/**
 * The batch loop: gathers, decodes and prepares the next batch while the
 * previous one commits, then settles it, one batch at a time in the order
 * received; the retry gate holds back what must wait while the database
 * fails.
 *
 * @module
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { Timers } from "../clock.ts";
import type { Database } from "../store/client.ts";
import { decodeBatch } from "./decode.ts";
import { Gatherer } from "./gather.ts";
import { RetryGate } from "./retry_gate.ts";
import { CommitSlot } from "./commit_slot.ts";
import type { SettleDeps } from "./settle.ts";
import { ChainHeadCache, prepareBatch, prepareBatchInSlices } from "../store/chain_prep.ts";
import { commitBatch } from "../store/commit.ts";
import { nextTurn, SLICE } from "./turns.ts";

/** What the batch loop needs. */
export interface BatchLoopDeps extends SettleDeps {
  db: Database;
  /** The stream's name, recorded with each dead letter. */
  consumer: { stream: string };
  /**
   * Messages in one transaction while the consumer keeps up. Behind a
   * backlog a transaction takes the messages waiting, up to
   * `BACKLOG_BATCH_FACTOR` times this: fewer durable commits per event
   * (see `batchLimit` in `gather.ts`).
   */
  batchSize: number;
  /**
   * How far an `end_time` may lie after the stream received the event before
   * it is flagged as an anomaly, ms (`CLOCK_SKEW_SECONDS`).
   * @default {300000}
   */
  skewMs?: number;
  /**
   * The clock of the retry gate and the timers of the linger.
   * @default the wall clock and the runtime's timers
   */
  timers?: Timers;
}

/**
 * Reads batches from `messages` until they end; returns the count of
 * consecutive failed batches (`failures` is the count so far).
 *
 * One batch is stored at a time, in the order received, while the next one
 * is gathered, decoded and its chain prepared: a local database commits off
 * the JavaScript thread, so these overlap with the commit.
 */
export async function drainBatches(
  messages: AsyncIterable<JsMsg>,
  deps: BatchLoopDeps,
  failures: number,
): Promise<number> {
  const { batchSize, metrics, timers } = deps;
  const gate = new RetryGate({
    failures,
    clock: timers,
    onSetAside: (count) => metrics.countEvents("retried", count),
  });
  const gatherer = new Gatherer(messages, { batchSize, gate, timers });
  /** The chain heads expected once the batches prepared so far are committed. */
  const heads = new ChainHeadCache();
  const slot = new CommitSlot((prepared, cache) => commitBatch(deps.db, prepared, cache), deps);
  /** Waits for the batch being committed; after a failure the gate sets arrivals aside. */
  const finishPrevious = async () => {
    const previous = await slot.finish();
    if (previous) gate.settled(previous.messages, previous.failures);
  };
  try {
    for (;;) {
      const first = await gatherer.first();
      if (first.done) break;
      if (gate.mustWait(first.value)) {
        gate.setAside([first.value]);
        continue;
      }
      const batch = await gatherer.batch(first.value);
      const decoded = await decodeBatch(batch, {
        stream: deps.consumer.stream,
        skewMs: deps.skewMs,
      });
      // Its chain is computed now, while the previous batch commits (checked in the transaction).
      let prepared = await prepareBatchInSlices(
        decoded.rows,
        decoded.letters,
        heads,
        nextTurn,
        SLICE,
      );
      await finishPrevious();
      if (gate.anyMustWait(batch)) {
        // Gathered while the previous batch was failing: everything in it is newer than that batch.
        heads.reset();
        gate.setAside(batch);
        continue;
      }
      if (prepared.ahead && prepared.ahead.generation !== heads.generation) {
        // The previous batch did not commit as prepared: this chain started from the wrong heads.
        prepared = prepareBatch(decoded.rows, decoded.letters, heads);
      }
      slot.start(decoded, prepared, heads, gate.failures);
    }
  } finally {
    await finishPrevious();
    await slot.settled(); // every stored batch's acks go out before this returns
  }
  return gate.failures;
}

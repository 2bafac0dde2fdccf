/**
 * The ingest's entry point: binds the durable consumer, consumes from it
 * through the batch loop (`loop.ts`), and binds again when the consumer or
 * its stream disappears.
 *
 * Stages, one module each: `gather.ts` (batch limit, linger) → `decode.ts`
 * (row or dead letter) → the store's chain preparation and commit →
 * `settle.ts` (ack after commit, term, nak); `retry_gate.ts` holds back
 * what must wait while the database fails.
 *
 * @module
 */
import type { ConsumerMessages, JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { backoffDelay, sleep } from "../backoff.ts";
import { bindConsumer, type ConsumerSettings } from "../nats/consumer.ts";
import { type BatchLoopDeps, drainBatches } from "./loop.ts";

/** What the ingest loop needs. */
export interface IngestDeps extends BatchLoopDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  consumer: ConsumerSettings;
}

/**
 * How many batches of `batchSize` messages one pull asks for. Two keep a
 * batch arriving while the previous one commits; a backlog transaction (up
 * to `BACKLOG_BATCH_FACTOR` batches) fills from several pulls. Every
 * message waiting in the client is memory: pulling 8 batches at a time
 * instead of 2 raised the peak resident memory of a 200,000-event drain by
 * about 13 MB.
 */
export const PULL_BATCHES = 2;

/**
 * Lifetime of one pull request, ms. The server's idle heartbeat is half of it,
 * and two missed heartbeats make the client look the consumer up: a consumer
 * deleted by an operator is noticed within about this long (nats-server 2.9
 * does not tell a waiting pull that its consumer is gone).
 */
const PULL_EXPIRES_MS = 5_000;
/** Consumer notifications after which the consumer is looked up and bound again. */
const REBIND_ON = new Set([
  "consumer_deleted",
  "consumer_not_found",
  "stream_not_found",
]);

/**
 * Runs the ingest loop until `signal` aborts; then stops pulling, commits
 * and acks the batch in hand, and resolves.
 */
export async function runIngest(
  deps: IngestDeps,
  signal: AbortSignal,
): Promise<void> {
  const { js, jsm, consumer, logger, readiness } = deps;
  let failures = 0;
  while (!signal.aborted) {
    if (!await bindConsumer(jsm, consumer, logger, readiness, signal)) break;
    let messages: ConsumerMessages;
    try {
      const bound = await js.consumers.get(consumer.stream, consumer.durable);
      messages = await bound.consume({
        max_messages: deps.batchSize * PULL_BATCHES,
        expires: PULL_EXPIRES_MS,
      });
    } catch (err) {
      readiness.fail("consumer", `cannot consume: ${(err as Error).message}`);
      logger.warn("cannot start consuming; binding again", { error: err });
      await sleep(backoffDelay(0, { baseMs: 1_000 }), signal);
      continue;
    }
    logger.info("consuming", {
      stream: consumer.stream,
      durable: consumer.durable,
      subject: consumer.subject,
    });
    const stopPulling = () => messages.stop();
    signal.addEventListener("abort", stopPulling, { once: true });
    const watcher = watchNotifications(messages, deps);
    try {
      failures = await drainBatches(messages, deps, failures);
    } finally {
      signal.removeEventListener("abort", stopPulling);
      messages.stop();
      await watcher;
    }
  }
}

/** Stops `messages` when the consumer or stream is gone, so the loop binds again. */
async function watchNotifications(
  messages: ConsumerMessages,
  deps: IngestDeps,
): Promise<void> {
  for await (const note of messages.status()) {
    if (REBIND_ON.has(note.type)) {
      deps.readiness.fail(
        "consumer",
        `consumer lost (${note.type}); binding again`,
      );
      deps.logger.warn("consumer lost; binding again", {
        notification: note.type,
      });
      messages.stop();
      return;
    }
    if (note.type === "heartbeats_missed") {
      deps.logger.warn("consumer heartbeats missed", { count: note.count });
    } else if (note.type === "next" || note.type === "heartbeat") {
      // routine
    } else {
      deps.logger.debug("consumer notification", { notification: note.type });
    }
  }
}

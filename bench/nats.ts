/**
 * NATS side of the benchmark: the WebSocket connection, publishing the
 * backlog, adding durable consumers with the service's settings, and timing
 * a drain from the consumer's state as the server reports it.
 *
 * @module
 */
import { wsconnect } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/nats-core";
import type { JetStreamClient, JetStreamManager, PubAck } from "@nats-io/jetstream";
import { desiredConsumerConfig } from "../src/nats/consumer.ts";
import { ensureDeviceEventsStream } from "../scripts/simulator.ts";
import { BENCH_STREAM, type BenchMessage } from "./events.ts";

/** The filter subject of the service's consumer. */
export const SESSION_END_FILTER = "audit.session.end.>";

/** Connects over the WebSocket gateway, as the service does. */
export function connectWs(url: string): Promise<NatsConnection> {
  return wsconnect({ servers: url, name: "session-audit-bench" });
}

/** Creates the benchmark's copy of the poller's stream. */
export async function createStream(jsm: JetStreamManager): Promise<void> {
  await ensureDeviceEventsStream(jsm, BENCH_STREAM);
}

/**
 * Publishes `messages` with up to `window` publishes in flight.
 *
 * @returns the stream sequence of the last message.
 */
export async function publishAll(
  js: JetStreamClient,
  messages: BenchMessage[],
  window = 1_000,
): Promise<number> {
  let last = 0;
  for (let i = 0; i < messages.length; i += window) {
    const acks: Promise<PubAck>[] = [];
    for (const { subject, payload } of messages.slice(i, i + window)) {
      acks.push(js.publish(subject, payload));
    }
    for (const ack of await Promise.all(acks)) last = Math.max(last, ack.seq);
  }
  return last;
}

/** Adds a durable consumer exactly as the service configures its own. */
export async function addServiceLikeConsumer(
  jsm: JetStreamManager,
  durable: string,
): Promise<void> {
  await jsm.consumers.add(
    BENCH_STREAM.name,
    desiredConsumerConfig({ stream: BENCH_STREAM.name, durable, subject: SESSION_END_FILTER }),
  );
}

/** When a consumer's backlog started moving and when it was fully acknowledged. */
export interface DrainTiming {
  /** First poll that saw a delivery, ms (performance.now). */
  firstDeliveryMs: number;
  /** First poll that saw nothing pending and nothing awaiting an ack, ms. */
  drainedMs: number;
  /** Messages the consumer delivered, counting each once. */
  delivered: number;
}

/** Options of {@linkcode timeDrain}. */
export interface DrainOptions {
  /** Consumer-info polls while waiting for the first delivery and for the last ack, ms. @default 50 */
  pollMs?: number;
  /**
   * A cheap check, asked every `checkMs` while the drain runs, that says
   * when the last ack may have been sent (for the service: its counters of
   * settled events). Only then is the consumer's info polled again.
   */
  almostDone: () => Promise<boolean>;
  /** @default 100 */
  checkMs?: number;
  /** The consumer's info is read at least this often, in case `almostDone` never says so, ms. @default 5000 */
  fallbackMs?: number;
  /** @default 600000 */
  timeoutMs?: number;
}

/**
 * Times a consumer's drain: from the first consumer-info poll that shows a
 * delivery to the first that shows every message up to `lastSeq`
 * acknowledged (pending and ack-pending both 0).
 *
 * The info is polled often only before the first delivery and once
 * `almostDone` says the end is near: for each consumer-info request
 * nats-server 2.9 counts the pending messages over the stream's subjects
 * (one per session here), about 35 ms of its CPU with 200,000 of them:
 * polling every 250 ms throughout cost nats-server 7.6 CPU-seconds in a
 * 27-second drain (every second, 4.8), on the machine the service shares.
 *
 * @throws when the drain takes longer than `timeoutMs`.
 */
export async function timeDrain(
  jsm: JetStreamManager,
  durable: string,
  lastSeq: number,
  options: DrainOptions,
): Promise<DrainTiming> {
  const pollMs = options.pollMs ?? 50;
  const checkMs = options.checkMs ?? 100;
  const fallbackMs = options.fallbackMs ?? 5_000;
  const deadline = performance.now() + (options.timeoutMs ?? 600_000);
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const info = () => jsm.consumers.info(BENCH_STREAM.name, durable).catch(() => undefined);
  let firstDeliveryMs: number | undefined;
  while (firstDeliveryMs === undefined) {
    if (performance.now() > deadline) throw new Error(`consumer ${durable} delivered nothing`);
    const state = await info(); // undefined until the service has created the consumer
    if (state && state.delivered.consumer_seq > 0) firstDeliveryMs = performance.now();
    else await wait(pollMs);
  }
  let lastInfoMs = firstDeliveryMs;
  while (performance.now() < deadline) {
    const near = await options.almostDone().catch(() => false) ||
      performance.now() - lastInfoMs >= fallbackMs;
    if (near) {
      const state = await info();
      const now = performance.now();
      lastInfoMs = now;
      if (
        state && state.num_pending === 0 && state.num_ack_pending === 0 &&
        state.ack_floor.stream_seq >= lastSeq
      ) {
        return { firstDeliveryMs, drainedMs: now, delivered: state.delivered.consumer_seq };
      }
    }
    await wait(near ? pollMs : checkMs);
  }
  throw new Error(`consumer ${durable} did not drain within ${options.timeoutMs} ms`);
}

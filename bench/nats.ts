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

/**
 * Polls the consumer's info every `pollMs` (default 250) until every message up to
 * `lastSeq` is acknowledged (pending and ack-pending both 0).
 *
 * @throws when the drain takes longer than `timeoutMs`.
 */
export async function timeDrain(
  jsm: JetStreamManager,
  durable: string,
  lastSeq: number,
  options: { pollMs?: number; timeoutMs?: number; onPoll?: () => void } = {},
): Promise<DrainTiming> {
  // Not faster: for each consumer-info request nats-server 2.9 counts the pending messages over
  // the stream's subjects (one per session here); 50 a second took half a core from the service
  // being measured. 250 ms is under 1 % of a drain of 20 s or more.
  const pollMs = options.pollMs ?? 250;
  const deadline = performance.now() + (options.timeoutMs ?? 600_000);
  let firstDeliveryMs: number | undefined;
  while (performance.now() < deadline) {
    let info;
    try {
      info = await jsm.consumers.info(BENCH_STREAM.name, durable);
    } catch {
      // not created yet by the service
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      continue;
    }
    const now = performance.now();
    options.onPoll?.();
    if (firstDeliveryMs === undefined && info.delivered.consumer_seq > 0) firstDeliveryMs = now;
    if (
      firstDeliveryMs !== undefined && info.num_pending === 0 && info.num_ack_pending === 0 &&
      info.ack_floor.stream_seq >= lastSeq
    ) {
      return { firstDeliveryMs, drainedMs: now, delivered: info.delivered.consumer_seq };
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`consumer ${durable} did not drain within ${options.timeoutMs} ms`);
}

/**
 * Two in-process consumers of the backlog: the consume ceiling (ack each
 * message, nothing else) and the naive baseline (one insert, one commit and
 * one ack per message, as a simple subscriber does).
 *
 * @module
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { decodeSessionEnd } from "../src/event.ts";
import type { Database } from "../src/store/client.ts";
import { resolveRowKeys } from "../src/store/id_keys.ts";
import { insertSessionEndsSql } from "../src/store/session_end_sql.ts";
import { BENCH_STREAM } from "./events.ts";
import { addServiceLikeConsumer } from "./nats.ts";

/** A measured rate. */
export interface Rate {
  messages: number;
  seconds: number;
  perSecond: number;
}

/** Makes a {@linkcode Rate}. */
export function rate(messages: number, ms: number): Rate {
  const seconds = ms / 1000;
  return { messages, seconds, perSecond: seconds > 0 ? messages / seconds : 0 };
}

/** Options shared by both consumers. */
export interface ConsumeOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  durable: string;
  /** Messages in the consumer's backlog. */
  total: number;
  /** `max_messages` of `consume()`, as the service passes its batch size. */
  batchSize: number;
}

async function consumeEach(
  options: ConsumeOptions,
  handle: (msg: JsMsg) => Promise<void> | void,
  limits: { messages: number; ms: number },
): Promise<Rate> {
  const { nc, js, jsm, durable, batchSize } = options;
  await addServiceLikeConsumer(jsm, durable);
  const consumer = await js.consumers.get(BENCH_STREAM.name, durable);
  const messages = await consumer.consume({ max_messages: batchSize });
  let started: number | undefined;
  let count = 0;
  for await (const msg of messages) {
    started ??= performance.now();
    await handle(msg);
    count++;
    if (count >= limits.messages || performance.now() - started >= limits.ms) break;
  }
  await nc.flush();
  const elapsed = performance.now() - (started ?? performance.now());
  messages.stop();
  return rate(count, elapsed);
}

/** Consume ceiling: every message acked as it arrives, nothing else done. */
export function consumeCeiling(options: ConsumeOptions): Promise<Rate> {
  return consumeEach(options, (msg) => msg.ack(), {
    messages: options.total,
    ms: Number.POSITIVE_INFINITY,
  });
}

/**
 * Naive baseline: for each message, decode it, insert its row in its own
 * transaction (one commit, one fsync), then ack. Stops after `maxMessages`
 * or `maxMs`, whichever comes first.
 */
export function naiveBaseline(
  options: ConsumeOptions & { db: Database; maxMessages: number; maxMs: number },
): Promise<Rate> {
  const { db } = options;
  return consumeEach(options, async (msg) => {
    const receivedAt = Math.floor(msg.info.timestampNanos / 1_000_000);
    const result = decodeSessionEnd(msg.data, { receivedAt });
    if (result.ok) {
      const row = {
        event: result.event,
        stream: msg.info.stream,
        streamSeq: msg.info.streamSequence,
        subject: msg.subject,
        payload: msg.data,
        receivedAt,
      };
      // The ids' integer keys: from the process's cache, read (or created) when new.
      const keys = await resolveRowKeys((stmt) => db.execute(stmt), [row], db.idKeys);
      db.idKeys.learn(keys);
      const [insert] = insertSessionEndsSql([row], Date.now(), keys);
      await db.execute(insert);
    }
    msg.ack();
  }, { messages: Math.min(options.total, options.maxMessages), ms: options.maxMs });
}

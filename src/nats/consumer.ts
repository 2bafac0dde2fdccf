/**
 * The durable pull consumer (SPEC §2.1): its desired configuration, drift
 * detection, and binding to it — created when missing, updated when drifted,
 * waiting with growing backoff, forever, for a stream that does not exist yet.
 *
 * @module
 */
import { nanos } from "@nats-io/nats-core";
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  ReplayPolicy,
} from "@nats-io/jetstream";
import type { ConsumerConfig, ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "../log.ts";
import type { Readiness } from "../readiness.ts";
import { backoffDelay, sleep } from "../backoff.ts";

/** What the service asks of its consumer. */
export interface ConsumerSettings {
  stream: string;
  durable: string;
  subject: string;
  /**
   * Most unacknowledged messages the server hands us at once: the flow
   * control that bounds memory whatever the backlog. Room for two of the
   * ingest loop's largest transactions: one committing, the next arriving.
   * @default 10000
   */
  maxAckPending?: number;
  /** How long the server waits for an ack before redelivering, ms. @default 30000 */
  ackWaitMs?: number;
}

/** The consumer configuration the service wants. */
export function desiredConsumerConfig(
  settings: ConsumerSettings,
): Partial<ConsumerConfig> {
  return {
    durable_name: settings.durable,
    description: "session-audit: stores SSH session ends as audit rows",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    filter_subject: settings.subject,
    ack_wait: nanos(settings.ackWaitMs ?? 30_000),
    max_ack_pending: settings.maxAckPending ?? 10_000,
    max_deliver: -1,
  };
}

/** Fields nats-server 2.9 cannot change on an existing consumer. */
const IMMUTABLE: ReadonlyArray<keyof ConsumerConfig> = [
  "ack_policy",
  "deliver_policy",
  "filter_subject",
  "replay_policy",
];

/** The fields of `current` that differ from `desired`, by name. Pure. */
export function consumerDrift(
  current: Partial<ConsumerConfig>,
  desired: Partial<ConsumerConfig>,
): (keyof ConsumerConfig)[] {
  const drift: (keyof ConsumerConfig)[] = [];
  for (const key of Object.keys(desired) as (keyof ConsumerConfig)[]) {
    if (key === "durable_name") continue;
    if (current[key] !== desired[key]) drift.push(key);
  }
  return drift;
}

/** True when `err` is the JetStream API's answer for an unknown stream. */
export function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError &&
    err.code === JetStreamApiCodes.StreamNotFound;
}

/** True when `err` is the JetStream API's answer for an unknown consumer. */
export function isConsumerNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError &&
    err.code === JetStreamApiCodes.ConsumerNotFound;
}

/** What {@linkcode ensureConsumer} had to do. */
export type EnsureOutcome = "created" | "updated" | "recreated" | "unchanged";

/**
 * Makes the durable consumer exist with the desired configuration.
 * A drift in an immutable field (the filter, the ack or deliver policy)
 * recreates the consumer, which redelivers the stream from the start:
 * idempotent storage absorbs it.
 *
 * @throws the JetStream API error when the stream does not exist.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  settings: ConsumerSettings,
  logger: Logger,
): Promise<EnsureOutcome> {
  const desired = desiredConsumerConfig(settings);
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(settings.stream, settings.durable);
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
    await jsm.consumers.add(settings.stream, desired);
    logger.info("consumer created", {
      stream: settings.stream,
      durable: settings.durable,
    });
    return "created";
  }
  const drift = consumerDrift(info.config, desired);
  if (drift.length === 0) return "unchanged";
  if (drift.some((key) => IMMUTABLE.includes(key))) {
    logger.warn(
      "consumer recreated: immutable settings drifted; the stream is redelivered and duplicates are absorbed",
      {
        durable: settings.durable,
        drift,
      },
    );
    await jsm.consumers.delete(settings.stream, settings.durable);
    await jsm.consumers.add(settings.stream, desired);
    return "recreated";
  }
  const { durable_name: _name, ...updatable } = desired;
  await jsm.consumers.update(settings.stream, settings.durable, updatable);
  logger.info("consumer updated", { durable: settings.durable, drift });
  return "updated";
}

/**
 * Ensures the consumer, waiting for its stream with growing backoff for as
 * long as it takes (until `signal` aborts). Readiness says why meanwhile.
 *
 * @returns false when aborted before the consumer was bound.
 */
export async function bindConsumer(
  jsm: JetStreamManager,
  settings: ConsumerSettings,
  logger: Logger,
  readiness: Readiness,
  signal: AbortSignal,
): Promise<boolean> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      await ensureConsumer(jsm, settings, logger);
      readiness.ok("consumer");
      return true;
    } catch (err) {
      const delay = backoffDelay(attempt, { baseMs: 250, maxMs: 15_000 });
      const reason = isStreamNotFound(err)
        ? `stream ${settings.stream} does not exist yet`
        : `cannot bind consumer ${settings.durable}: ${(err as Error).message}`;
      readiness.fail("consumer", reason);
      (attempt === 0 || attempt % 10 === 0 ? logger.warn : logger.debug)(
        "consumer not bound; retrying",
        { reason, attempt: attempt + 1, retry_in_ms: delay },
      );
      await sleep(delay, signal);
    }
  }
  return false;
}

/**
 * The consumer's lag, read from the server into the metrics: pending and
 * ack-pending counts, the age of the oldest event not yet acknowledged and
 * the backlog next to the stream's limits, with a warning when that age
 * eats into the stream's retention.
 *
 * @module
 */
import type { JetStreamManager, MsgRequest, StreamInfo } from "@nats-io/jetstream";
import { sleep } from "../backoff.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { ConsumerSettings } from "./consumer.ts";

/** How often the consumer's lag is read from the server, ms. */
export const LAG_POLL_MS = 5_000;
/** The stream's retention (SPEC §1: MaxAge 24 h), ms. */
export const STREAM_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Options of {@linkcode watchLag}. */
export interface LagOptions {
  /**
   * Share of the stream's 24 h retention after which an unprocessed event
   * is logged as a warning (it is lost when it reaches the full retention).
   * @default 0.25
   */
  warnShare?: number;
  logger: Logger;
}

/** The gauges of {@linkcode streamGauges}. */
export type StreamGauges = Record<
  | "session_audit_stream_messages"
  | "session_audit_stream_bytes"
  | "session_audit_stream_max_messages"
  | "session_audit_stream_max_bytes"
  | "session_audit_stream_max_age_seconds"
  | "session_audit_backlog_messages"
  | "session_audit_backlog_bytes",
  number
>;

/**
 * The stream's size and limits (a limit it does not have is 0), and the
 * backlog: the stream's messages, every subject, from `oldestSeq` (the
 * oldest event not yet stored; `undefined` when caught up) to its last.
 * The stream discards its oldest messages whatever their subject, so that
 * event is kept as long as the backlog fits under every limit. The
 * backlog's bytes are estimated from the stream's mean message size.
 */
export function streamGauges(
  stream: {
    config: Pick<StreamInfo["config"], "max_msgs" | "max_bytes" | "max_age">;
    state: Pick<StreamInfo["state"], "messages" | "bytes" | "last_seq">;
  },
  oldestSeq: number | undefined,
): StreamGauges {
  const { config, state } = stream;
  const backlog = oldestSeq === undefined ? 0 : Math.max(0, state.last_seq - oldestSeq + 1);
  const meanBytes = state.messages > 0 ? state.bytes / state.messages : 0;
  return {
    session_audit_stream_messages: state.messages,
    session_audit_stream_bytes: state.bytes,
    session_audit_stream_max_messages: Math.max(0, config.max_msgs),
    session_audit_stream_max_bytes: Math.max(0, config.max_bytes),
    session_audit_stream_max_age_seconds: Math.max(0, config.max_age) / 1e9,
    session_audit_backlog_messages: backlog,
    session_audit_backlog_bytes: Math.round(backlog * meanBytes),
  };
}

/**
 * Reads the consumer's lag every few seconds into the metrics — pending and
 * ack-pending counts, the age of the oldest event not yet acknowledged, and
 * the stream's {@linkcode streamGauges} — and warns when that age passes
 * `warnShare` of the stream's retention. Runs until `signal` aborts; errors
 * only skip a reading.
 */
export async function watchLag(
  jsm: JetStreamManager,
  consumer: ConsumerSettings,
  metrics: Metrics,
  signal: AbortSignal,
  options: LagOptions,
): Promise<void> {
  const warnAfterMs = (options.warnShare ?? 0.25) * STREAM_RETENTION_MS;
  let warned = false;
  while (!signal.aborted) {
    try {
      const info = await jsm.consumers.info(consumer.stream, consumer.durable);
      metrics.set("session_audit_consumer_pending", info.num_pending);
      metrics.set("session_audit_consumer_ack_pending", info.num_ack_pending);
      let ageMs = 0;
      let oldestSeq: number | undefined;
      if (info.num_pending + info.num_ack_pending > 0) {
        // The oldest unacknowledged event is the first matching message after the ack floor.
        // nats-server 2.9 answers `next_by_subj` on STREAM.MSG.GET; nats.js types it only for
        // direct gets, which the poller's stream does not enable.
        const query = { seq: info.ack_floor.stream_seq + 1, next_by_subj: consumer.subject };
        const oldest = await jsm.streams.getMessage(consumer.stream, query as MsgRequest);
        if (oldest) {
          ageMs = Math.max(0, Date.now() - oldest.time.getTime());
          oldestSeq = oldest.seq;
        }
      }
      metrics.set("session_audit_oldest_unprocessed_age_seconds", ageMs / 1000);
      // Read after the oldest event, so that the stream's last sequence is at or past it.
      const stream = await jsm.streams.info(consumer.stream);
      for (const [name, value] of Object.entries(streamGauges(stream, oldestSeq))) {
        metrics.set(name, value);
      }
      if (ageMs > warnAfterMs && !warned) {
        options.logger.warn("consumer lag is eating into the stream's 24 h retention", {
          oldest_unprocessed_age_seconds: Math.round(ageMs / 1000),
          pending: info.num_pending,
          ack_pending: info.num_ack_pending,
        });
      }
      warned = ageMs > warnAfterMs;
    } catch {
      // not bound yet, or NATS unreachable: readiness reports it
    }
    await sleep(LAG_POLL_MS, signal);
  }
}

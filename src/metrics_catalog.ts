/**
 * The catalogue of the process's Prometheus metrics: every family's name,
 * type, help text and, for a histogram, its buckets; and the series that
 * are exposed from the start at 0 (so that `increase()` sees their first
 * event). Declarative: `metrics.ts` keeps the values.
 *
 * @module
 */
import { BATCH_SIZE_BUCKETS, DURATION_BUCKETS, LAG_BUCKETS } from "./histogram.ts";
import { QUARANTINE_CLASSES } from "./quarantine.ts";
import { SECONDARY_FIELDS } from "./secondary_fields.ts";

/** The `limit` label of `session_audit_http_rejected_total`: the read API's limits (src/api/fair_share.ts). */
export const REJECTION_LIMITS = [
  "concurrent",
  "concurrent_per_tenant",
  "concurrent_per_subject",
  "live_feeds",
  "live_feeds_per_tenant",
  "rate_per_tenant",
  "query_budget",
] as const;
/** One of {@linkcode REJECTION_LIMITS}. */
export type RejectionLimit = typeof REJECTION_LIMITS[number];

/** Outcomes of one consumed message (the `outcome` label of `session_audit_events_total`). */
export const INGEST_OUTCOMES = [
  "stored",
  "corrected",
  "duplicate",
  "quarantined",
  "retried",
] as const;
/** Outcome of one consumed message. */
export type IngestOutcome = typeof INGEST_OUTCOMES[number];

/** Labels of one series. */
export type Labels = Record<string, string>;

/** One metric family of the catalogue. */
export type MetricSpec =
  & {
    name: string;
    help: string;
    /** The series rendered from the start, at 0 (none: a series appears when first set). */
    zero?: readonly Labels[];
  }
  & ({ type: "counter" | "gauge" } | { type: "histogram"; bounds: readonly number[] });

const counter = (name: string, help: string, zero: readonly Labels[] = [{}]): MetricSpec => ({
  name,
  type: "counter",
  help,
  zero,
});
const gauge = (name: string, help: string): MetricSpec => ({ name, type: "gauge", help });
const histogram = (
  name: string,
  help: string,
  bounds: readonly number[],
  zero: readonly Labels[] = [],
): MetricSpec => ({ name, type: "histogram", help, bounds, zero });
/** One series per value of `label`. */
const each = (label: string, values: readonly string[]): Labels[] =>
  values.map((value) => ({ [label]: value }));

/** Every metric family, in the order `GET /metrics` renders them. */
export const METRIC_CATALOG: readonly MetricSpec[] = [
  counter(
    "session_audit_events_total",
    "Consumed session-end messages by outcome.",
    each("outcome", INGEST_OUTCOMES),
  ),
  counter(
    "session_audit_quarantined_total",
    "Quarantined session-end messages by class (not_json, not_object, too_large, identity, conflict, database).",
    each("class", QUARANTINE_CLASSES),
  ),
  counter(
    "session_audit_anomalies_total",
    "Anomalies stored with session ends, by field (an unusable value kept as null plus its raw text).",
    each("field", SECONDARY_FIELDS),
  ),
  counter("session_audit_batches_total", "Committed ingest batches."),
  counter(
    "session_audit_batch_failures_total",
    "Ingest batches whose transaction failed: nak'd when transient, split to isolate the refused messages otherwise.",
  ),
  histogram(
    "session_audit_batch_commit_duration_seconds",
    "Duration of a committed batch's write transaction.",
    DURATION_BUCKETS,
    [{}],
  ),
  histogram(
    "session_audit_batch_size_messages",
    "Messages in a committed batch.",
    BATCH_SIZE_BUCKETS,
    [{}],
  ),
  histogram(
    "session_audit_end_to_end_lag_seconds",
    "Time from a message's publish in the stream to the commit of its batch.",
    LAG_BUCKETS,
    [{}],
  ),
  histogram(
    "session_audit_http_request_duration_seconds",
    "HTTP request duration until the response is ready, by route pattern and status class.",
    DURATION_BUCKETS,
  ),
  gauge(
    "session_audit_consumer_pending",
    "Messages in the stream not yet delivered to the consumer.",
  ),
  gauge("session_audit_consumer_ack_pending", "Messages delivered but not yet acknowledged."),
  gauge(
    "session_audit_oldest_unprocessed_age_seconds",
    "Age of the oldest event not yet stored (0 when caught up).",
  ),
  // The stream's size and limits, and the backlog measured against them (`nats/lag.ts`).
  gauge("session_audit_stream_messages", "Messages in the stream, every subject."),
  gauge("session_audit_stream_bytes", "Bytes in the stream, every subject."),
  gauge("session_audit_stream_max_messages", "The stream's max_msgs limit (0: none)."),
  gauge("session_audit_stream_max_bytes", "The stream's max_bytes limit (0: none)."),
  gauge("session_audit_stream_max_age_seconds", "The stream's max_age limit (0: none)."),
  gauge(
    "session_audit_backlog_messages",
    "Messages of the stream, every subject, from the oldest event not yet stored to the last.",
  ),
  gauge(
    "session_audit_backlog_bytes",
    "Bytes of the stream from the oldest event not yet stored to the last (estimated).",
  ),
  gauge("session_audit_ready", "1 when the database answers and the consumer is bound."),
  counter("session_audit_nats_reconnects_total", "NATS reconnections."),
  counter(
    "session_audit_retention_purged_total",
    "Session ends deleted by the retention purge (RETENTION_DAYS).",
  ),
  counter(
    "session_audit_retention_failures_total",
    "Retention purges that failed and rolled back; the next is an hour later.",
  ),
  // Publishing the checkpoints to their independent copy (`integrity/publisher.ts`).
  counter(
    "session_audit_checkpoints_published_total",
    "Chain checkpoints published to the independent copy (CHECKPOINT_STREAM).",
  ),
  counter(
    "session_audit_checkpoint_publish_failures_total",
    "Attempts to publish chain checkpoints to the independent copy that failed (retried).",
  ),
  // The self-check's series appear once it has run (INTEGRITY_CHECK_INTERVAL_SECONDS).
  gauge(
    "session_audit_integrity_broken_tenants",
    "Tenants whose hash chain failed the last integrity self-check.",
  ),
  gauge(
    "session_audit_integrity_last_check_timestamp_seconds",
    "When the last integrity self-check completed (Unix time).",
  ),
  counter(
    "session_audit_integrity_checks_total",
    "Integrity self-checks completed (every tenant checked once each).",
    [],
  ),
  counter(
    "session_audit_http_rejected_total",
    "Read API requests refused by a fair-sharing limit (429) or stopped by the query budget (503).",
    each("limit", REJECTION_LIMITS),
  ),
  gauge(
    "session_audit_http_requests_in_flight",
    "Read API requests in progress (streamed answers until their last byte; live feeds apart).",
  ),
  gauge("session_audit_live_feeds_open", "Live feeds open."),
  // Memory, read when scraped.
  gauge("process_resident_memory_bytes", "Resident memory of the process (read when scraped)."),
  gauge("session_audit_js_heap_used_bytes", "Used JavaScript heap (read when scraped)."),
  gauge(
    "session_audit_js_heap_total_bytes",
    "JavaScript heap reserved by V8 (read when scraped).",
  ),
  gauge(
    "session_audit_external_memory_bytes",
    "Memory held outside the JavaScript heap by its objects, such as buffers (read when scraped).",
  ),
];

/**
 * The process's Prometheus metrics: counters, gauges and histograms kept in
 * memory and rendered in the text exposition format for `GET /metrics`.
 *
 * @module
 */
import { BATCH_SIZE_BUCKETS, DURATION_BUCKETS, Histogram, LAG_BUCKETS } from "./histogram.ts";

import { QUARANTINE_CLASSES, type QuarantineClass } from "./quarantine.ts";
import { SECONDARY_FIELDS, type StoredAnomaly } from "./secondary_fields.ts";

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

/** Outcome of one consumed message. */
export type IngestOutcome = "stored" | "corrected" | "duplicate" | "quarantined" | "retried";

type Labels = Record<string, string>;

type Family =
  | {
    help: string;
    type: "counter" | "gauge";
    values: Map<string, { labels: Labels; value: number }>;
  }
  | {
    help: string;
    type: "histogram";
    bounds: readonly number[];
    values: Map<string, { labels: Labels; histogram: Histogram }>;
  };

/** The ingest's histograms, without labels. */
const INGEST_HISTOGRAMS = [
  "session_audit_batch_commit_duration_seconds",
  "session_audit_batch_size_messages",
  "session_audit_end_to_end_lag_seconds",
] as const;

/** The stream's size and limits, and the backlog measured against them (`nats/lag.ts`). */
const STREAM_GAUGES = {
  session_audit_stream_messages: "Messages in the stream, every subject.",
  session_audit_stream_bytes: "Bytes in the stream, every subject.",
  session_audit_stream_max_messages: "The stream's max_msgs limit (0: none).",
  session_audit_stream_max_bytes: "The stream's max_bytes limit (0: none).",
  session_audit_stream_max_age_seconds: "The stream's max_age limit (0: none).",
  session_audit_backlog_messages:
    "Messages of the stream, every subject, from the oldest event not yet stored to the last.",
  session_audit_backlog_bytes:
    "Bytes of the stream from the oldest event not yet stored to the last (estimated).",
};

/** Publishing the checkpoints to their independent copy (`integrity/publisher.ts`). */
const INTEGRITY_COUNTERS = {
  session_audit_checkpoints_published_total:
    "Chain checkpoints published to the independent copy (CHECKPOINT_STREAM).",
  session_audit_checkpoint_publish_failures_total:
    "Attempts to publish chain checkpoints to the independent copy that failed (retried).",
};

/** The integrity self-check's gauges (`integrity/self_check.ts`). */
const SELF_CHECK_GAUGES = {
  session_audit_integrity_broken_tenants:
    "Tenants whose hash chain failed the last integrity self-check.",
  session_audit_integrity_last_check_timestamp_seconds:
    "When the last integrity self-check completed (Unix time).",
};

/** A metric family this registry defines. */
export interface MetricDefinition {
  name: string;
  type: Family["type"];
}

function labelKey(labels: Labels): string {
  // Prometheus text format: a label value escapes \ as \\, " as \" and a line feed as \n.
  const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  return Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`).join(",");
}

/** A small registry of counters and gauges. */
export class Metrics {
  readonly #families = new Map<string, Family>();

  constructor() {
    this.#define(
      "session_audit_events_total",
      "counter",
      "Consumed session-end messages by outcome.",
    );
    for (const outcome of ["stored", "corrected", "duplicate", "quarantined", "retried"]) {
      this.add("session_audit_events_total", 0, { outcome });
    }
    this.#define(
      "session_audit_quarantined_total",
      "counter",
      "Quarantined session-end messages by class (not_json, not_object, too_large, identity, conflict, database).",
    );
    for (const cls of QUARANTINE_CLASSES) {
      this.add("session_audit_quarantined_total", 0, { class: cls });
    }
    this.#define(
      "session_audit_anomalies_total",
      "counter",
      "Anomalies stored with session ends, by field (an unusable value kept as null plus its raw text).",
    );
    for (const field of SECONDARY_FIELDS) this.add("session_audit_anomalies_total", 0, { field });
    this.#define(
      "session_audit_batches_total",
      "counter",
      "Committed ingest batches.",
    );
    this.add("session_audit_batches_total", 0);
    this.#define(
      "session_audit_batch_failures_total",
      "counter",
      "Ingest batches whose transaction failed: nak'd when transient, split to isolate the refused messages otherwise.",
    );
    this.add("session_audit_batch_failures_total", 0);
    this.#defineHistogram(
      "session_audit_batch_commit_duration_seconds",
      "Duration of a committed batch's write transaction.",
      DURATION_BUCKETS,
    );
    this.#defineHistogram(
      "session_audit_batch_size_messages",
      "Messages in a committed batch.",
      BATCH_SIZE_BUCKETS,
    );
    this.#defineHistogram(
      "session_audit_end_to_end_lag_seconds",
      "Time from a message's publish in the stream to the commit of its batch.",
      LAG_BUCKETS,
    );
    for (const name of INGEST_HISTOGRAMS) this.histogram(name); // rendered from 0, as the counters
    this.#defineHistogram(
      "session_audit_http_request_duration_seconds",
      "HTTP request duration until the response is ready, by route pattern and status class.",
      DURATION_BUCKETS,
    );
    this.#define(
      "session_audit_consumer_pending",
      "gauge",
      "Messages in the stream not yet delivered to the consumer.",
    );
    this.#define(
      "session_audit_consumer_ack_pending",
      "gauge",
      "Messages delivered but not yet acknowledged.",
    );
    this.#define(
      "session_audit_oldest_unprocessed_age_seconds",
      "gauge",
      "Age of the oldest event not yet stored (0 when caught up).",
    );
    for (const [name, help] of Object.entries(STREAM_GAUGES)) this.#define(name, "gauge", help);
    this.#define(
      "session_audit_ready",
      "gauge",
      "1 when the database answers and the consumer is bound.",
    );
    this.#define(
      "session_audit_nats_reconnects_total",
      "counter",
      "NATS reconnections.",
    );
    this.add("session_audit_nats_reconnects_total", 0);
    this.#define(
      "session_audit_retention_purged_total",
      "counter",
      "Session ends deleted by the retention purge (RETENTION_DAYS).",
    );
    this.add("session_audit_retention_purged_total", 0);
    this.#define(
      "session_audit_retention_failures_total",
      "counter",
      "Retention purges that failed and rolled back; the next is an hour later.",
    );
    this.add("session_audit_retention_failures_total", 0);
    for (const [name, help] of Object.entries(INTEGRITY_COUNTERS)) {
      this.#define(name, "counter", help);
      this.add(name, 0);
    }
    // The self-check's series appear once it has run (INTEGRITY_CHECK_INTERVAL_SECONDS).
    for (const [name, help] of Object.entries(SELF_CHECK_GAUGES)) this.#define(name, "gauge", help);
    this.#define(
      "session_audit_integrity_checks_total",
      "counter",
      "Integrity self-checks completed (every tenant checked once each).",
    );
    this.#define(
      "session_audit_http_rejected_total",
      "counter",
      "Read API requests refused by a fair-sharing limit (429) or stopped by the query budget (503).",
    );
    for (const limit of REJECTION_LIMITS) {
      this.add("session_audit_http_rejected_total", 0, { limit });
    }
    this.#define(
      "session_audit_http_requests_in_flight",
      "gauge",
      "Read API requests in progress (streamed answers until their last byte; live feeds apart).",
    );
    this.#define("session_audit_live_feeds_open", "gauge", "Live feeds open.");
    this.#define(
      "process_resident_memory_bytes",
      "gauge",
      "Resident memory of the process (read when scraped).",
    );
    this.#define(
      "session_audit_js_heap_used_bytes",
      "gauge",
      "Used JavaScript heap (read when scraped).",
    );
    this.#define(
      "session_audit_js_heap_total_bytes",
      "gauge",
      "JavaScript heap reserved by V8 (read when scraped).",
    );
    this.#define(
      "session_audit_external_memory_bytes",
      "gauge",
      "Memory held outside the JavaScript heap by its objects, such as buffers (read when scraped).",
    );
  }

  #readMemory(): void {
    const memory = Deno.memoryUsage();
    this.set("process_resident_memory_bytes", memory.rss);
    this.set("session_audit_js_heap_used_bytes", memory.heapUsed);
    this.set("session_audit_js_heap_total_bytes", memory.heapTotal);
    this.set("session_audit_external_memory_bytes", memory.external);
  }

  #define(name: string, type: "counter" | "gauge", help: string): void {
    this.#families.set(name, { help, type, values: new Map() });
  }

  /** Defines a histogram; it renders once a series is created by {@linkcode Metrics.histogram}. */
  #defineHistogram(name: string, help: string, bounds: readonly number[]): void {
    this.#families.set(name, { help, type: "histogram", bounds, values: new Map() });
  }

  #family(name: string) {
    const family = this.#families.get(name);
    if (!family) throw new Error(`unknown metric ${name}`);
    if (family.type === "histogram") throw new Error(`${name} is a histogram`);
    return family;
  }

  /** Every family defined, rendered or not, in definition order. */
  definitions(): MetricDefinition[] {
    return [...this.#families].map(([name, { type }]) => ({ name, type }));
  }

  /**
   * The series of histogram `name` with `labels`, created on first use. Keep
   * it to observe on a hot path: {@linkcode Histogram.observe} allocates nothing.
   */
  histogram(name: string, labels: Labels = {}): Histogram {
    const family = this.#families.get(name);
    if (family?.type !== "histogram") throw new Error(`unknown histogram ${name}`);
    const key = labelKey(labels);
    let entry = family.values.get(key);
    if (!entry) {
      entry = { labels, histogram: new Histogram(family.bounds) };
      family.values.set(key, entry);
    }
    return entry.histogram;
  }

  /** Adds `delta` to a counter (or gauge). */
  add(name: string, delta: number, labels: Labels = {}): void {
    const family = this.#family(name);
    const key = labelKey(labels);
    const entry = family.values.get(key);
    if (entry) entry.value += delta;
    else family.values.set(key, { labels, value: delta });
  }

  /** Sets a gauge. */
  set(name: string, value: number, labels: Labels = {}): void {
    this.#family(name).values.set(labelKey(labels), { labels, value });
  }

  /** Reads one value (0 when never set). */
  get(name: string, labels: Labels = {}): number {
    return this.#family(name).values.get(labelKey(labels))?.value ?? 0;
  }

  /** Counts messages by outcome. */
  countEvents(outcome: IngestOutcome, n = 1): void {
    if (n > 0) this.add("session_audit_events_total", n, { outcome });
  }

  /** Counts one quarantined message: as an outcome, and by class. */
  countQuarantined(cls: QuarantineClass): void {
    this.countEvents("quarantined");
    this.add("session_audit_quarantined_total", 1, { class: cls });
  }

  /** Counts the anomalies of one stored row, by field. */
  countAnomalies(anomalies: readonly StoredAnomaly[]): void {
    for (const { field } of anomalies) this.add("session_audit_anomalies_total", 1, { field });
  }

  /** Renders every family in the Prometheus text format (version 0.0.4). */
  render(): string {
    this.#readMemory();
    const lines: string[] = [];
    for (const [name, family] of this.#families) {
      if (family.values.size === 0) continue;
      lines.push(
        `# HELP ${name} ${family.help}`,
        `# TYPE ${name} ${family.type}`,
      );
      if (family.type === "histogram") {
        for (const [key, { histogram }] of family.values) {
          lines.push(...histogram.render(name, key));
        }
        continue;
      }
      for (const { labels, value } of family.values.values()) {
        const key = labelKey(labels);
        lines.push(`${name}${key ? `{${key}}` : ""} ${value}`);
      }
    }
    return lines.join("\n") + "\n";
  }
}

/**
 * The process's Prometheus metrics: counters, gauges and histograms kept in
 * memory and rendered in the text exposition format for `GET /metrics`.
 *
 * @module
 */
import { Histogram } from "./histogram.ts";
import { type IngestOutcome, type Labels, METRIC_CATALOG } from "./metrics_catalog.ts";
import type { QuarantineClass } from "./quarantine.ts";
import type { StoredAnomaly } from "./secondary_fields.ts";

export { type IngestOutcome, REJECTION_LIMITS, type RejectionLimit } from "./metrics_catalog.ts";

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
    for (const spec of METRIC_CATALOG) {
      if (spec.type === "histogram") {
        this.#families.set(spec.name, {
          help: spec.help,
          type: "histogram",
          bounds: spec.bounds,
          values: new Map(),
        });
        for (const labels of spec.zero ?? []) this.histogram(spec.name, labels);
      } else {
        this.#families.set(spec.name, { help: spec.help, type: spec.type, values: new Map() });
        for (const labels of spec.zero ?? []) this.add(spec.name, 0, labels);
      }
    }
  }

  #readMemory(): void {
    const memory = Deno.memoryUsage();
    this.set("process_resident_memory_bytes", memory.rss);
    this.set("session_audit_js_heap_used_bytes", memory.heapUsed);
    this.set("session_audit_js_heap_total_bytes", memory.heapTotal);
    this.set("session_audit_external_memory_bytes", memory.external);
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

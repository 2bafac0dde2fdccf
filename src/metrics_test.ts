import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import { promtool } from "../tests/prometheus.ts";
import { Metrics } from "./metrics.ts";

function lines(metrics: Metrics): string[] {
  const text = metrics.render();
  ok(text.endsWith("\n"), "the exposition must end with a line feed");
  return text.slice(0, -1).split("\n");
}

Deno.test("a fresh registry renders every counter at 0, events by outcome", () => {
  const out = lines(new Metrics());
  for (const outcome of ["stored", "duplicate", "quarantined", "retried"]) {
    ok(out.includes(`session_audit_events_total{outcome="${outcome}"} 0`), outcome);
  }
  ok(out.includes("session_audit_batches_total 0"));
  ok(out.includes("session_audit_batch_failures_total 0"));
  ok(out.includes("session_audit_nats_reconnects_total 0"));
});

Deno.test("each family has one HELP and one TYPE line before its samples", () => {
  const out = lines(new Metrics());
  const help = out.indexOf(
    "# HELP session_audit_events_total Consumed session-end messages by outcome.",
  );
  ok(help >= 0);
  equal(out[help + 1], "# TYPE session_audit_events_total counter");
  match(out[help + 2], /^session_audit_events_total\{outcome="stored"\} 0$/);
  equal(out.filter((l) => l.startsWith("# TYPE session_audit_events_total ")).length, 1);
  for (const line of out) {
    ok(
      /^# (HELP|TYPE) [a-z_]+ .+$/.test(line) || /^[a-z_]+(\{.*\})? -?[0-9.e+]+$/.test(line),
      `not a Prometheus text line: ${JSON.stringify(line)}`,
    );
  }
});

Deno.test("gauges appear, typed gauge, only once they have a value", () => {
  const metrics = new Metrics();
  ok(!metrics.render().includes("session_audit_consumer_pending"));
  metrics.set("session_audit_consumer_pending", 42);
  metrics.set("session_audit_ready", 1);
  const out = lines(metrics);
  ok(out.includes("# TYPE session_audit_consumer_pending gauge"));
  ok(out.includes("session_audit_consumer_pending 42"));
  ok(out.includes("session_audit_ready 1"));
  metrics.set("session_audit_consumer_pending", 7);
  ok(lines(metrics).includes("session_audit_consumer_pending 7"));
  ok(!lines(metrics).includes("session_audit_consumer_pending 42"));
});

Deno.test("countEvents adds to the outcome's counter and ignores n <= 0", () => {
  const metrics = new Metrics();
  metrics.countEvents("stored", 3);
  metrics.countEvents("stored");
  metrics.countEvents("duplicate");
  metrics.countEvents("retried", 0);
  metrics.countEvents("retried", -2);
  equal(metrics.get("session_audit_events_total", { outcome: "stored" }), 4);
  const out = lines(metrics);
  ok(out.includes('session_audit_events_total{outcome="stored"} 4'));
  ok(out.includes('session_audit_events_total{outcome="duplicate"} 1'));
  ok(out.includes('session_audit_events_total{outcome="retried"} 0'));
  ok(out.includes('session_audit_events_total{outcome="quarantined"} 0'));
});

Deno.test('label values escape backslash, double quote and line feed as \\\\, \\" and \\n', () => {
  const metrics = new Metrics();
  metrics.set("session_audit_ready", 1, { reason: 'say "hi"\\now\nthen' });
  const sample = lines(metrics).find((l) => l.startsWith("session_audit_ready{"));
  equal(sample, 'session_audit_ready{reason="say \\"hi\\"\\\\now\\nthen"} 1');
});

Deno.test("an unknown metric name throws naming it", () => {
  throws(() => new Metrics().add("nope_total", 1), /unknown metric nope_total/);
});

/** A registry where every family defined has a series: what a busy process renders. */
function everyFamilyInUse(): Metrics {
  const metrics = new Metrics();
  for (const { name, type } of metrics.definitions()) {
    if (type === "histogram") {
      const labels: Record<string, string> = name === "session_audit_http_request_duration_seconds"
        ? { route: "/v1/session-ends/:session_id", status_class: "2xx" }
        : {};
      metrics.histogram(name, labels).observe(0.02);
    } else {
      metrics.set(name, 3);
    }
  }
  return metrics;
}

Deno.test("every family in use passes promtool check metrics (format and naming)", async () => {
  const text = everyFamilyInUse().render();
  ok(text.includes("# TYPE session_audit_end_to_end_lag_seconds histogram"));
  const run = await promtool(["check", "metrics"], { stdin: text });
  equal(run.stdout + run.stderr, "", "promtool reported problems");
  equal(run.code, 0);
});

Deno.test("the ingest's histograms render from the start, every bucket at 0", () => {
  const out = lines(new Metrics());
  for (
    const name of [
      "session_audit_batch_commit_duration_seconds",
      "session_audit_batch_size_messages",
      "session_audit_end_to_end_lag_seconds",
    ]
  ) {
    ok(out.includes(`# TYPE ${name} histogram`), name);
    ok(out.includes(`${name}_bucket{le="+Inf"} 0`), name);
    ok(out.includes(`${name}_count 0`), name);
  }
  ok(!out.some((l) => l.includes("session_audit_http_request_duration_seconds")));
});

Deno.test("a labelled histogram series is created once and renders its labels before le", () => {
  const metrics = new Metrics();
  const labels = { route: "/healthz", status_class: "2xx" };
  const series = metrics.histogram("session_audit_http_request_duration_seconds", labels);
  equal(metrics.histogram("session_audit_http_request_duration_seconds", { ...labels }), series);
  series.observe(0.003);
  const out = lines(metrics);
  ok(out.includes(
    'session_audit_http_request_duration_seconds_bucket{route="/healthz",status_class="2xx",le="0.0025"} 0',
  ));
  ok(out.includes(
    'session_audit_http_request_duration_seconds_bucket{route="/healthz",status_class="2xx",le="0.005"} 1',
  ));
  ok(out.includes(
    'session_audit_http_request_duration_seconds_count{route="/healthz",status_class="2xx"} 1',
  ));
});

Deno.test("a histogram is not a counter, and a counter is not a histogram", () => {
  const metrics = new Metrics();
  throws(
    () => metrics.add("session_audit_batch_size_messages", 1),
    /session_audit_batch_size_messages is a histogram/,
  );
  throws(() => metrics.histogram("session_audit_batches_total"), /unknown histogram/);
});

Deno.test("definitions list every family once, with its type", () => {
  const definitions = new Metrics().definitions();
  const names = definitions.map((d) => d.name);
  deepStrictEqual(names, [...new Set(names)]);
  deepStrictEqual(
    definitions.find((d) => d.name === "session_audit_stream_max_bytes"),
    { name: "session_audit_stream_max_bytes", type: "gauge" },
  );
});

Deno.test("every family the registry defines is in the README's metrics table, with its type", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const documented = new Map<string, string>();
  for (
    const [, name, type] of readme.matchAll(/^\| `([a-z_]+)(?:\{[a-z_,]+\})?` +\| (\w+) +\|/gm)
  ) {
    documented.set(name, type);
  }
  const definitions = new Metrics().definitions();
  ok(definitions.length > 0);
  for (const { name, type } of definitions) {
    equal(documented.get(name), type, `${name} (${type}) is missing from the README's table`);
  }
});

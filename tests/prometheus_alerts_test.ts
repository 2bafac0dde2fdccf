/**
 * The shipped alert rules on a real Prometheus server scraping the real
 * service on loopback: ingest stalls behind a locked database, and the
 * alerts that say so go pending through Prometheus's own API, then clear.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { DEVICE_EVENTS_STREAM } from "../scripts/simulator.ts";
import { stallBacklog, type StalledBacklog, startService, startWorld, waitFor } from "./harness.ts";
import { type ActiveAlert, promtool, startPrometheus } from "./prometheus.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const RULES = new URL("../deploy/prometheus/session_audit_rules.yml", import.meta.url).pathname;
/** A stream that holds 100 KiB, so that a backlog of 150 events (about 60 KiB) fills most of it. */
const MAX_BYTES = 100 * 1024;

/** "name severity limit state" of each alert, sorted: what an operator reads. */
function summary(alerts: ActiveAlert[]): string[] {
  return alerts.map((a) =>
    [a.labels.alertname, a.labels.severity, a.labels.limit ?? "-", a.state].join(" ")
  ).sort();
}

Deno.test(
  "Prometheus sees ingest stall behind a locked database (alerts pending) and recover",
  opts,
  async () => {
    const world = await startWorld({ stream: false });
    await world.t.jsm.streams.add({ ...DEVICE_EVENTS_STREAM, max_bytes: MAX_BYTES });
    const service = await startService({ natsUrl: world.nats.wsUrl, databasePath: world.dbPath });
    let stalled: StalledBacklog | undefined;
    const prometheus = await startPrometheus({
      targets: [`127.0.0.1:${service.port}`],
      ruleFiles: [RULES],
    });
    try {
      await waitFor("ready", async () => (await service.get("/readyz")).status === 200);
      // The rules have run on a scrape that carries the stream's limits.
      const ratio = await waitFor(
        "the backlog ratio recorded",
        async () => {
          const samples = await prometheus.query("session_audit:backlog_limit:ratio");
          return samples.length > 0 ? samples : undefined;
        },
        30_000,
        250,
      );
      deepStrictEqual(ratio.map((r) => [r.metric.limit, r.value]).sort(), [
        ["max_age", 0],
        ["max_bytes", 0],
      ]);
      deepStrictEqual(summary(await prometheus.alerts()), [], "alerts while caught up");

      const backlog = await stallBacklog(world, 150);
      stalled = backlog;
      const expected = [
        "SessionAuditEventsAtRisk critical max_bytes pending",
        "SessionAuditEventsAtRisk warning max_bytes pending",
        "SessionAuditIngestStalled critical - pending",
        "SessionAuditNotReady critical - pending",
      ];
      let seen: string[] = [];
      await waitFor(
        `alerts ${expected.join(", ")}`,
        async () => {
          seen = summary(await prometheus.alerts());
          return expected.every((a) => seen.includes(a));
        },
        60_000,
        250,
      ).catch((err) => {
        throw new Error(`${err.message}; seen: ${seen.join(", ")}`);
      });
      deepStrictEqual(seen, expected, "no other alert");
      const stall = (await prometheus.alerts()).find((a) =>
        a.labels.alertname === "SessionAuditIngestStalled"
      );
      equal(stall?.labels.instance, `127.0.0.1:${service.port}`);
      equal(Number(stall?.value), backlog.count, "the events waiting");

      // While it stalls, the real exposition (every gauge set) passes promtool's checks.
      const exposition = await (await fetch(`${service.baseUrl}/metrics`)).text();
      const check = await promtool(["check", "metrics"], { stdin: exposition });
      equal(check.stdout + check.stderr, "", "promtool check metrics");
      equal(check.code, 0);
      // The histograms are queryable: Prometheus's own scrapes are requests to /metrics.
      const scrapes = await prometheus.query(
        'sum by (route) (session_audit_http_request_duration_seconds_count{route="/metrics"})',
      );
      ok(scrapes.length === 1 && scrapes[0].value > 0, JSON.stringify(scrapes));

      await backlog.drain();
      await waitFor(
        "the stall and the risk cleared",
        async () => {
          seen = summary(await prometheus.alerts());
          return !seen.some((a) => /IngestStalled|EventsAtRisk/.test(a));
        },
        60_000,
        250,
      ).catch((err) => {
        throw new Error(`${err.message}; seen: ${seen.join(", ")}`);
      });
      // Every event stored has its publish-to-commit lag in the histogram (redeliveries may add).
      await waitFor("every stored event's lag in Prometheus", async () => {
        const lag = await prometheus.query("session_audit_end_to_end_lag_seconds_count");
        return lag.length === 1 && lag[0].value >= backlog.count;
      });
    } finally {
      await stalled?.release();
      await prometheus.stop();
      await service.stop("SIGTERM");
      await world.close();
    }
  },
);

import { deepStrictEqual, equal } from "node:assert/strict";
import type { Rate } from "./consumers.ts";
import {
  type BenchResults,
  checkTargets,
  count,
  formatHistogramCost,
  formatReadPeer,
  type ReadAtSize,
} from "./report.ts";
import type { ReadFigures } from "./read.ts";

const rate = (perSecond: number): Rate => ({ messages: perSecond, seconds: 1, perSecond });

function readAt(rows: number, p50Ms: number): ReadAtSize {
  const figures = { requests: 100, errors: 0, perSecond: 100, p50Ms, p99Ms: p50Ms * 3 };
  return { rows, queries: { first: figures, deep: figures, device: figures } };
}

function run(changes: Partial<Omit<BenchResults, "targets">> = {}): Omit<BenchResults, "targets"> {
  return {
    date: "2026-11-27T00:00:00.000Z",
    machine: { cpus: 2, model: "test", deno: "2", os: "linux" },
    settings: {
      events: 200_000,
      batchSize: 500,
      maxAckPending: 10_000,
      readClients: 16,
      readSeconds: 5,
    },
    decode: rate(60_000),
    consumeCeiling: rate(60_000),
    storeCeiling: rate(5_000),
    storeCeilingLargest: { ...rate(10_000), rowsPerTransaction: 4_000 },
    naiveBaseline: rate(2_000),
    ingest: { ...rate(8_500), peakRssMB: 120, stored: 1, duplicates: 0, quarantined: 0 },
    read: [readAt(10_000, 30), readAt(1_000_000, 40)],
    idle: { rssMB: 60, anonMB: 20, fileMB: 40, settleMs: 5_000 },
    histogramCost: { nsPerEvent: 20, events: 1_000_000 },
    ...changes,
  };
}

const measured = (r: Omit<BenchResults, "targets">) =>
  Object.fromEntries(checkTargets(r).map((t) => [t.name, [t.measured, t.pass]]));

Deno.test("ingest is compared with the better store ceiling when the store is the bottleneck", () => {
  const targets = measured(run());
  deepStrictEqual(targets["ingest / min(consume, store ceiling)"], [0.85, true]);
  deepStrictEqual(targets["ingest / naive baseline"], [4.25, true]);
  deepStrictEqual(targets["ingest peak RSS, MB"], [120, true]);
  deepStrictEqual(targets["idle RSS, MB"], [60, true]);
  deepStrictEqual(targets["read first p50 @1M / @10k"], [40 / 30, true]);
});

Deno.test("ingest is compared with the consume ceiling when NATS is the bottleneck", () => {
  const targets = measured(run({ consumeCeiling: rate(9_000) }));
  equal(targets["ingest / min(consume, store ceiling)"][0], 8_500 / 9_000);
});

Deno.test("each target fails on its own side of the threshold", () => {
  const targets = measured(run({
    naiveBaseline: rate(2_500),
    ingest: { ...rate(7_000), peakRssMB: 128.5, stored: 1, duplicates: 0, quarantined: 0 },
    idle: { rssMB: 64.1, anonMB: 24, fileMB: 40.1, settleMs: 5_000 },
    read: [readAt(10_000, 30), readAt(1_000_000, 46)],
    readPeer: peerRun([500, 520], [600, 620]),
  }));
  deepStrictEqual(
    Object.values(targets).map(([, pass]) => pass),
    [false, false, false, false, false, false, false, false],
  );
});

Deno.test("without read figures only the ingest targets are checked", () => {
  equal(checkTargets(run({ read: undefined, readError: "the API did not start" })).length, 4);
});

function peerRun(service: number[], peer: number[]) {
  const figures = (perSecond: number): ReadFigures => ({
    requests: perSecond * 5,
    errors: 0,
    perSecond,
    p50Ms: 20,
    p99Ms: 60,
  });
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    rows: 1_000_000,
    service: service.map(figures),
    peer: peer.map(figures),
    ratio: sum(service) / sum(peer),
    serviceCpuMsPerRequest: 1.2,
    peerCpuMsPerRequest: 1,
  };
}

Deno.test("the read path passes at 0.85 of the bare peer's requests per second, not below", () => {
  const name = "read first req/s @1M, service / peer";
  deepStrictEqual(measured(run({ readPeer: peerRun([850, 850], [1_000, 1_000]) }))[name], [
    0.85,
    true,
  ]);
  deepStrictEqual(measured(run({ readPeer: peerRun([840, 850], [1_000, 1_000]) }))[name], [
    0.845,
    false,
  ]);
  equal(measured(run())[name], undefined, "not checked when the comparison did not run");
});

Deno.test("the comparison prints every run of both sides and the ratio", () => {
  const text = formatReadPeer(peerRun([700, 720], [800, 820]));
  equal(text.split("\n").filter((l) => /^(service|peer) /.test(l)).length, 4);
  equal(text.includes("service / peer = 0.877"), true);
});

Deno.test("idle RSS passes at 64 MB and fails above", () => {
  const idle = (rssMB: number) => ({ rssMB, anonMB: 20, fileMB: rssMB - 20, settleMs: 5_000 });
  deepStrictEqual(measured(run({ idle: idle(64) }))["idle RSS, MB"], [64, true]);
  deepStrictEqual(measured(run({ idle: idle(64.01) }))["idle RSS, MB"], [64.01, false]);
});

Deno.test("histogram overhead is shown per event and as a share of the drain's time per event", () => {
  // 50 ns per event at 10,000 events/s: 0.5 ms of every second, 0.05 %.
  equal(
    formatHistogramCost({ nsPerEvent: 50, events: 1 }, 10_000),
    "histogram overhead on ingest: 50.0 ns per event (timed alone), 0.05 % of the drain's time per event",
  );
});

Deno.test("table sizes are written short", () => {
  deepStrictEqual([1_000_000, 10_000, 1_234].map(count), ["1M", "10k", "1234"]);
});

Deno.test("the flood target is the quiet tenant's p99 under flood over alone, at most 2", () => {
  const latency = (p99Ms: number) => ({ requests: 450, errors: 0, p50Ms: 4, p99Ms, maxMs: p99Ms });
  const flood = (aloneP99: number, floodP99: number) => ({
    plan: {
      rows: 1,
      quietRate: 15,
      measureMs: 1,
      warmupMs: 1,
      noisy: { exports: 1, stats: 1, integrity: 1, feeds: 1 },
    },
    alone: latency(aloneP99),
    flood: latency(floodP99),
    noisy: { answers: {}, exportBytes: 0 },
    p99Ratio: floodP99 / aloneP99,
  });
  const name = "quiet list p99 under flood / alone";
  deepStrictEqual(measured(run({ flood: flood(10, 20) }))[name], [2, true]);
  deepStrictEqual(measured(run({ flood: flood(10, 25) }))[name], [2.5, false]);
  equal(measured(run())[name], undefined, "not checked when the scenario did not run");
});

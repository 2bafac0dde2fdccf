import { deepStrictEqual, equal } from "node:assert/strict";
import type { Rate } from "./consumers.ts";
import { type BenchResults, checkTargets, count, type ReadAtSize } from "./report.ts";

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
    ingest: { ...rate(8_500), peakRssMB: 190, stored: 1, duplicates: 0, quarantined: 0 },
    read: [readAt(10_000, 30), readAt(1_000_000, 40)],
    ...changes,
  };
}

const measured = (r: Omit<BenchResults, "targets">) =>
  Object.fromEntries(checkTargets(r).map((t) => [t.name, [t.measured, t.pass]]));

Deno.test("ingest is compared with the better store ceiling when the store is the bottleneck", () => {
  const targets = measured(run());
  deepStrictEqual(targets["ingest / min(consume, store ceiling)"], [0.85, true]);
  deepStrictEqual(targets["ingest / naive baseline"], [4.25, true]);
  deepStrictEqual(targets["ingest peak RSS, MB"], [190, true]);
  deepStrictEqual(targets["read first p50 @1M / @10k"], [40 / 30, true]);
});

Deno.test("ingest is compared with the consume ceiling when NATS is the bottleneck", () => {
  const targets = measured(run({ consumeCeiling: rate(9_000) }));
  equal(targets["ingest / min(consume, store ceiling)"][0], 8_500 / 9_000);
});

Deno.test("each target fails on its own side of the threshold", () => {
  const targets = measured(run({
    naiveBaseline: rate(2_500),
    ingest: { ...rate(7_000), peakRssMB: 200.5, stored: 1, duplicates: 0, quarantined: 0 },
    read: [readAt(10_000, 30), readAt(1_000_000, 46)],
  }));
  deepStrictEqual(
    Object.values(targets).map(([, pass]) => pass),
    [false, false, false, false, false, false],
  );
});

Deno.test("without read figures only the ingest targets are checked", () => {
  equal(checkTargets(run({ read: undefined, readError: "the API did not start" })).length, 3);
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

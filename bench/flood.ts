/**
 * The fair-sharing benchmark: a quiet tenant lists its newest session ends
 * at a steady rate, first alone, then while a noisy tenant floods the
 * service with many clients (exports, stats, integrity walks, live feeds).
 * The quiet tenant's p50 and p99 are compared in the same run; the target
 * is p99 under flood ≤ 2 × p99 alone. The service runs with its default
 * limits (the README's configuration table).
 *
 * @module
 */
import { mintToken } from "../src/api/token.ts";
import { freePort } from "../scripts/nats_server.ts";
import { createFleet, syntheticRows } from "./events.ts";
import { startService } from "./service.ts";
import { fillRows, openMigrated } from "./store.ts";

/** Sizes of one flood run. */
export interface FloodPlan {
  /** Rows in the database, half of them the noisy tenant's. */
  rows: number;
  /** Requests per second of the quiet tenant (open loop: one every 1/rate s, whatever answers). */
  quietRate: number;
  /** How long each of the two phases is measured, ms. */
  measureMs: number;
  /** Time before each phase's measurement, ms (the flood ramps up meanwhile). */
  warmupMs: number;
  /** Noisy clients by kind. */
  noisy: { exports: number; stats: number; integrity: number; feeds: number };
}

/** The full run, or `--quick`. */
export function floodPlan(quick: boolean): FloodPlan {
  return {
    rows: quick ? 40_000 : 400_000,
    quietRate: 15,
    measureMs: quick ? 8_000 : 30_000,
    warmupMs: quick ? 1_000 : 3_000,
    noisy: { exports: 8, stats: 8, integrity: 2, feeds: 16 },
  };
}

/** Latencies of one phase. */
export interface LatencyFigures {
  requests: number;
  /** Answers other than 200. */
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** What the noisy tenant got during the flood. */
export interface NoisyFigures {
  /** Answers by kind and status, e.g. `{ "export 200": 40, "stats 429": 900 }`. */
  answers: Record<string, number>;
  /** Bytes of exports received. */
  exportBytes: number;
}

/** The figures of one flood run. */
export interface FloodFigures {
  plan: FloodPlan;
  alone: LatencyFigures;
  flood: LatencyFigures;
  noisy: NoisyFigures;
  /** `flood.p99Ms / alone.p99Ms`: the target is ≤ 2. */
  p99Ratio: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** The quiet tenant's steady list requests for `measureMs` after `warmupMs`. */
async function quietLoad(
  url: string,
  token: string,
  plan: FloodPlan,
): Promise<LatencyFigures> {
  const latencies: number[] = [];
  let errors = 0;
  const intervalMs = 1000 / plan.quietRate;
  const start = performance.now();
  const measureFrom = start + plan.warmupMs;
  const end = measureFrom + plan.measureMs;
  const inFlight: Promise<void>[] = [];
  for (let i = 0;; i++) {
    const due = start + i * intervalMs;
    if (due >= end) break;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const measured = due >= measureFrom;
    inFlight.push((async () => {
      const t0 = performance.now();
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      if (!measured) return;
      if (res.status === 200) latencies.push(performance.now() - t0);
      else errors++;
    })());
  }
  await Promise.all(inFlight);
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? NaN,
  };
}

/**
 * The noisy tenant's clients, each looping until `stop` aborts: every
 * answer is read to its end and the next request sent at once; a refused
 * request (429) is sent again after its `Retry-After`.
 */
function flood(
  baseUrl: string,
  token: string,
  plan: FloodPlan,
  stop: AbortSignal,
): { done: Promise<void>; figures: NoisyFigures } {
  const figures: NoisyFigures = { answers: {}, exportBytes: 0 };
  const count = (kind: string, status: number) => {
    const key = `${kind} ${status}`;
    figures.answers[key] = (figures.answers[key] ?? 0) + 1;
  };
  const headers = { authorization: `Bearer ${token}` };
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        stop.removeEventListener("abort", done);
        resolve();
      }
      stop.addEventListener("abort", done, { once: true });
    });
  const loop = async (kind: string, path: (i: number) => string, accept?: string) => {
    for (let i = 0; !stop.aborted; i++) {
      try {
        const res = await fetch(`${baseUrl}${path(i)}`, {
          headers: accept ? { ...headers, accept } : headers,
          signal: stop,
        });
        count(kind, res.status);
        if (res.status === 200 && res.body) {
          // A live feed never ends by itself: the flood's end cancels it (the fetch's signal
          // alone does not always end a body being read).
          const reader = res.body.getReader();
          const cancel = () => reader.cancel().catch(() => {});
          stop.addEventListener("abort", cancel, { once: true });
          try {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              if (kind === "export") figures.exportBytes += value.byteLength;
            }
          } finally {
            stop.removeEventListener("abort", cancel);
          }
        } else {
          await res.body?.cancel();
          // A refused client waits as it is told (Retry-After), as HTTP clients do.
          const retryAfter = Number(res.headers.get("Retry-After"));
          await pause(res.status === 429 && retryAfter > 0 ? retryAfter * 1000 : 100);
        }
      } catch {
        if (!stop.aborted) count(kind, 0);
      }
    }
  };
  const groups = ["device_id", "user_id", "reason", "day"];
  const clients = [
    ...Array.from(
      { length: plan.noisy.exports },
      (_, c) =>
        loop("export", (i) => `/v1/session-ends/export?format=${(i + c) % 2 ? "csv" : "ndjson"}`),
    ),
    ...Array.from(
      { length: plan.noisy.stats },
      (_, c) =>
        loop("stats", (i) => `/v1/session-ends/stats?group_by=${groups[(i + c) % groups.length]}`),
    ),
    ...Array.from({ length: plan.noisy.integrity }, () => loop("integrity", () => "/v1/integrity")),
    // A live feed replays the tenant's rows, then stays open until the flood ends.
    ...Array.from(
      { length: plan.noisy.feeds },
      () => loop("feed", () => "/v1/session-ends/feed", "text/event-stream"),
    ),
  ];
  return { done: Promise.all(clients).then(() => {}), figures };
}

/**
 * Fills a database in `dir` (half the rows the noisy tenant's, the rest
 * spread over 9 other tenants), starts the service on it (`ROLE=api`,
 * default limits) and measures the quiet tenant alone, then under flood.
 */
export async function floodBench(
  plan: FloodPlan,
  dir: string,
  secret: string,
  progress: (message: string) => void = () => {},
): Promise<FloodFigures> {
  const path = `${dir}/flood.db`;
  (await openMigrated(path)).close();
  const noisyFleet = createFleet(1, 50);
  const othersFleet = createFleet(9, 50);
  const quietTenant = othersFleet.tenants[0];
  progress(`flood: filling ${plan.rows} rows`);
  // Each half spans the last 30 days.
  const half = Math.floor(plan.rows / 2);
  const stepMs = Math.max(1, Math.floor(30 * 86_400_000 / half));
  const firstEndMs = Date.now() - 30 * 86_400_000;
  for (const [offset, fleet] of [[0, noisyFleet], [half, othersFleet]] as const) {
    for (let filled = 0; filled < half; filled += 50_000) {
      const n = Math.min(50_000, half - filled);
      await fillRows(
        path,
        syntheticRows(fleet, n, firstEndMs + filled * stepMs, stepMs, offset + filled),
      );
    }
  }
  const service = await startService({
    ROLE: "api",
    DATABASE_URL: `file:${path}`,
    PORT: String(freePort()),
    API_JWT_SECRET: secret,
    LOG_LEVEL: "warn",
  }, `${dir}/flood.log`);
  try {
    const [quiet, noisy] = await Promise.all([
      mintToken({ secret, tenantId: quietTenant.id, ttlSeconds: 3600 }),
      mintToken({ secret, tenantId: noisyFleet.tenants[0].id, ttlSeconds: 3600 }),
    ]);
    const list = `${service.baseUrl}/v1/session-ends?limit=50`;
    progress(`flood: quiet tenant alone, ${plan.quietRate} lists/s`);
    const alone = await quietLoad(list, quiet, plan);
    progress(
      `flood: quiet tenant while the noisy one floods (${
        Object.entries(plan.noisy).map(([k, v]) => `${v} ${k}`).join(", ")
      })`,
    );
    // The flood runs in a process of its own, so that its reading does not delay the quiet
    // tenant's measurements in this one.
    const noisyProcess = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, "--noisy"],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const writer = noisyProcess.stdin.getWriter();
    await writer.write(
      new TextEncoder().encode(
        JSON.stringify({ baseUrl: service.baseUrl, token: noisy, plan }) + "\n",
      ),
    );
    const underFlood = await quietLoad(list, quiet, plan);
    await writer.close(); // the flood ends when its input does
    const output = await noisyProcess.output();
    const noisyFigures: NoisyFigures = JSON.parse(new TextDecoder().decode(output.stdout));
    return {
      plan,
      alone,
      flood: underFlood,
      noisy: noisyFigures,
      p99Ratio: underFlood.p99Ms / alone.p99Ms,
    };
  } finally {
    await service.stop();
  }
}

/** `--noisy`: reads `{ baseUrl, token, plan }` from stdin, floods until stdin ends, prints the figures. */
async function noisyMain(): Promise<void> {
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let input = "";
  while (!input.includes("\n")) {
    const { done, value } = await lines.read();
    if (done) return;
    input += value;
  }
  const { baseUrl, token, plan } = JSON.parse(input) as {
    baseUrl: string;
    token: string;
    plan: FloodPlan;
  };
  const stop = new AbortController();
  const clients = flood(baseUrl, token, plan, stop.signal);
  while (!(await lines.read()).done);
  stop.abort();
  await clients.done;
  console.log(JSON.stringify(clients.figures));
}

if (import.meta.main && Deno.args.includes("--noisy")) await noisyMain();

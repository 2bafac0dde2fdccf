/**
 * `deno task bench`: measures, in one self-contained run, the consume
 * ceiling, the store ceiling, a naive baseline, the real service draining a
 * backlog (throughput and peak memory) and the read API at two table sizes;
 * prints a table with the targets and writes the figures to
 * `bench/results.json`.
 *
 * and the fair-sharing scenario (`flood.ts`: a quiet tenant's list latency
 * alone and while a noisy tenant floods).
 *
 * Usage: `deno run -A bench/run.ts [--quick] [--events N] [--out FILE] [--keep] [--flood]
 * [--read-peer [--rows N]] [--idle]` (`--flood`, `--read-peer` and `--idle` each run only that
 * scenario and print its lines and target).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { mintToken } from "../src/api/token.ts";
import { BACKLOG_BATCH_FACTOR } from "../src/ingest/gather.ts";
import { PULL_BATCHES } from "../src/ingest/pipeline.ts";
import { desiredConsumerConfig } from "../src/nats/consumer.ts";
import { freePort, startNatsServer } from "../scripts/nats_server.ts";
import { consumeCeiling, naiveBaseline, rate } from "./consumers.ts";
import { BENCH_STREAM, createFleet, rowsOf, sessionEndMessages, syntheticRows } from "./events.ts";
import { floodBench, floodPlan } from "./flood.ts";
import { histogramCost, idleFootprint } from "./footprint.ts";
import { connectWs, createStream, publishAll, timeDrain } from "./nats.ts";
import { loadTest, prepareQueries, type ReadTenant } from "./read.ts";
import {
  type BenchResults,
  checkTargets,
  count,
  formatFlood,
  formatIdle,
  formatReadPeer,
  formatResults,
  READ_QUERIES,
  type ReadAtSize,
  type ReadQuery,
  THRESHOLDS,
} from "./report.ts";
import { READ_RATE_LIMIT, readPeerBench, type ReadPeerFigures } from "./read_peer.ts";
import { settledEvents, startService } from "./service.ts";
import { fillRows, openMigrated, storeCeiling } from "./store.ts";

/** The durable the service uses by default (SPEC §2.1). */
const SERVICE_DURABLE = "api-session-audit-consumer";
const SECRET = "bench-secret-bench-secret-bench-secret-0123456789";

/** Sizes of one run. */
export interface BenchPlan {
  events: number;
  batchSize: number;
  naiveMaxMessages: number;
  naiveMaxMs: number;
  readSizes: number[];
  readTenants: number;
  readDevicesPerTenant: number;
  readClients: number;
  readMs: number;
  readWarmupMs: number;
  /** Load runs of each side in the service-versus-peer comparison. */
  peerAlternations: number;
  /** How long the idle service is left alone before its memory is read. */
  idleSettleMs: number;
}

/** The full run (a few minutes on 2 cores) or `--quick` (a smoke run). */
export function benchPlan(quick: boolean, events?: number): BenchPlan {
  return {
    events: events ?? (quick ? 20_000 : 200_000),
    batchSize: Number(Deno.env.get("INGEST_BATCH_SIZE") ?? 500),
    naiveMaxMessages: quick ? 2_000 : 20_000,
    naiveMaxMs: quick ? 5_000 : 20_000,
    readSizes: quick ? [2_000, 20_000] : [10_000, 1_000_000],
    readTenants: 20,
    readDevicesPerTenant: 50,
    readClients: 16,
    readMs: quick ? 1_000 : 5_000,
    readWarmupMs: quick ? 200 : 1_000,
    peerAlternations: quick ? 2 : 3,
    idleSettleMs: quick ? 2_000 : 5_000,
  };
}

async function removeDatabase(path: string): Promise<void> {
  for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(path + suffix).catch(() => {});
}

function progress(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

async function machine(): Promise<BenchResults["machine"]> {
  let model = "unknown";
  try {
    const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
    model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? model;
  } catch {
    // not Linux
  }
  return {
    cpus: navigator.hardwareConcurrency,
    model,
    deno: Deno.version.deno,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
  };
}

/** Runs the whole benchmark in `dir`; returns the results. */
export async function runBench(plan: BenchPlan, dir: string): Promise<BenchResults> {
  const nats = await startNatsServer({ dir: `${dir}/nats` });
  const nc = await connectWs(nats.wsUrl);
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await createStream(jsm);

    progress("idle footprint: the service started, connected, migrated, caught up");
    const idle = await idleFootprint({
      natsUrl: nats.wsUrl,
      dir,
      secret: SECRET,
      durable: "bench-idle",
      settleMs: plan.idleSettleMs,
    });
    await jsm.consumers.delete(BENCH_STREAM.name, "bench-idle");
    await removeDatabase(`${dir}/idle.db`);

    progress(`generating and publishing ${plan.events} session ends`);
    const messages = sessionEndMessages({ count: plan.events });
    const lastSeq = await publishAll(js, messages);
    const stream = await jsm.streams.info(BENCH_STREAM.name);
    progress(`stream holds ${stream.state.messages} messages, ${stream.state.bytes} bytes`);
    if (stream.state.messages !== plan.events) {
      throw new Error(`the stream holds ${stream.state.messages} of ${plan.events} messages`);
    }

    progress("consume ceiling");
    // consume() pulls as the service does.
    const pull = plan.batchSize * PULL_BATCHES;
    const common = { nc, js, jsm, total: plan.events, batchSize: pull };
    const consume = await consumeCeiling({ ...common, durable: "bench-consume-ceiling" });
    await jsm.consumers.delete(BENCH_STREAM.name, "bench-consume-ceiling");

    progress("decode and store ceiling");
    const decodeStart = performance.now();
    const rows = rowsOf(messages);
    const decode = rate(messages.length, performance.now() - decodeStart);
    const histograms = histogramCost(1_000_000, plan.batchSize);
    const store = await storeCeiling(`${dir}/store.db`, rows, 500);
    await removeDatabase(`${dir}/store.db`);
    const largestTransaction = plan.batchSize * BACKLOG_BATCH_FACTOR;
    const storeLarge = await storeCeiling(`${dir}/store.db`, rows, largestTransaction);
    await removeDatabase(`${dir}/store.db`);

    progress("naive baseline");
    const naiveDb = await openMigrated(`${dir}/naive.db`);
    const naive = await naiveBaseline({
      ...common,
      durable: "bench-naive",
      db: naiveDb,
      maxMessages: plan.naiveMaxMessages,
      maxMs: plan.naiveMaxMs,
    });
    naiveDb.close();
    await jsm.consumers.delete(BENCH_STREAM.name, "bench-naive");

    progress("ingest: the service drains the backlog");
    const service = await startService({
      NATS_URL: nats.wsUrl,
      DATABASE_URL: `file:${dir}/ingest.db`,
      PORT: String(freePort()),
      API_JWT_SECRET: SECRET,
      INGEST_BATCH_SIZE: String(plan.batchSize),
      LOG_LEVEL: "info",
    }, `${dir}/ingest.log`);
    let ingest: BenchResults["ingest"];
    try {
      const outcome = (o: string) =>
        service.metric("session_audit_events_total", `{outcome="${o}"}`).then((v) => v ?? NaN);
      // Near the end once the service has settled as many messages as were published (one
      // GET /metrics per check: the service under test serves it).
      const settled = () => settledEvents(service);
      const timing = await timeDrain(jsm, SERVICE_DURABLE, lastSeq, {
        almostDone: async () => await settled() >= plan.events,
      });
      ingest = {
        ...rate(plan.events, timing.drainedMs - timing.firstDeliveryMs),
        peakRssMB: (await service.peakRssMiB()) * 1024 * 1024 / 1e6,
        stored: await outcome("stored"),
        duplicates: await outcome("duplicate"),
        quarantined: await outcome("quarantined"),
      };
    } finally {
      await service.stop();
    }
    await removeDatabase(`${dir}/ingest.db`);

    let read: ReadAtSize[] | undefined;
    let readError: string | undefined;
    let readPeer: ReadPeerFigures | undefined;
    try {
      const data = await readData(plan, dir);
      read = await readBench(plan, data, dir, nats.wsUrl);
      readPeer = await comparePeer(plan, data, dir, nats.wsUrl);
    } catch (err) {
      readError = (err as Error).message;
      progress(`read benchmark failed: ${readError}`);
    }

    let flood: BenchResults["flood"];
    let floodError: string | undefined;
    try {
      flood = await floodBench(floodPlan(plan.events < 200_000), dir, SECRET, progress);
    } catch (err) {
      floodError = (err as Error).message;
      progress(`flood benchmark failed: ${floodError}`);
    }

    const partial = {
      date: new Date().toISOString(),
      machine: await machine(),
      settings: {
        events: plan.events,
        batchSize: plan.batchSize,
        maxAckPending: desiredConsumerConfig({ stream: "", durable: "", subject: "" })
          .max_ack_pending ?? 0,
        readClients: plan.readClients,
        readSeconds: plan.readMs / 1000,
      },
      decode,
      consumeCeiling: consume,
      storeCeiling: store,
      storeCeilingLargest: { ...storeLarge, rowsPerTransaction: largestTransaction },
      naiveBaseline: naive,
      ingest,
      read,
      readError,
      readPeer,
      idle,
      histogramCost: histograms,
      flood,
      floodError,
    };
    return { ...partial, targets: checkTargets(partial) };
  } finally {
    await nc.close();
    await nats.stop();
  }
}

/** The read scenarios' data set: a fleet, its readers and the rows' time span. */
interface ReadData {
  path: string;
  fleet: ReturnType<typeof createFleet>;
  tenants: ReadTenant[];
  firstEndMs: number;
  stepMs: number;
  filled: number;
}

/** A migrated, empty read database in `dir` and four tenants' tokens. */
async function readData(plan: BenchPlan, dir: string): Promise<ReadData> {
  const path = `${dir}/read.db`;
  (await openMigrated(path)).close();
  const fleet = createFleet(plan.readTenants, plan.readDevicesPerTenant);
  const largest = Math.max(...plan.readSizes);
  const readers = fleet.tenants.slice(0, 4);
  const tenants: ReadTenant[] = await Promise.all(readers.map(async (t) => ({
    token: await mintToken({ secret: SECRET, tenantId: t.id, ttlSeconds: 3600 }),
    deviceId: t.devices[0], // the busiest: a full page at every size
  })));
  return {
    path,
    fleet,
    tenants,
    stepMs: Math.max(1, Math.floor(30 * 86_400_000 / largest)),
    firstEndMs: Date.now() - 30 * 86_400_000,
    filled: 0,
  };
}

/** Fills the read database up to `size` rows. */
async function fillTo(data: ReadData, size: number): Promise<void> {
  progress(`read: filling ${count(size)} rows`);
  while (data.filled < size) {
    const n = Math.min(100_000, size - data.filled);
    const firstEnd = data.firstEndMs + data.filled * data.stepMs;
    await fillRows(data.path, syntheticRows(data.fleet, n, firstEnd, data.stepMs, data.filled));
    data.filled += n;
  }
}

/** The service against the bare peer at the largest read size (bench/read_peer.ts). */
function comparePeer(plan: BenchPlan, data: ReadData, dir: string, natsUrl?: string) {
  return readPeerBench({
    path: data.path,
    rows: data.filled,
    tenants: data.tenants,
    secret: SECRET,
    natsUrl,
    dir,
    plan: {
      alternations: plan.peerAlternations,
      clients: plan.readClients,
      durationMs: plan.readMs,
      warmupMs: plan.readWarmupMs,
    },
    progress,
  });
}

/** Fills a database to each read size in turn and load-tests the three queries. */
async function readBench(
  plan: BenchPlan,
  data: ReadData,
  dir: string,
  natsUrl: string,
): Promise<ReadAtSize[]> {
  const { path, tenants } = data;
  const results: ReadAtSize[] = [];
  for (const size of [...plan.readSizes].sort((a, b) => a - b)) {
    await fillTo(data, size);
    const service = await startService({
      ROLE: "api",
      NATS_URL: natsUrl,
      DATABASE_URL: `file:${path}`,
      PORT: String(freePort()),
      API_JWT_SECRET: SECRET,
      // Counted but never reached: 16 clients of 4 tenants ask far more than the default 1,200/min.
      API_RATE_LIMIT_PER_TENANT: String(READ_RATE_LIMIT),
      LOG_LEVEL: "warn",
    }, `${dir}/read.log`);
    try {
      const perTenant = size / plan.readTenants;
      const deepRows = Math.max(50, Math.floor(perTenant / 2 / 50) * 50);
      const queries = await prepareQueries(service.baseUrl, tenants, deepRows);
      const figures = {} as Record<ReadQuery, ReadAtSize["queries"][ReadQuery]>;
      for (const q of READ_QUERIES) {
        progress(`read: ${q} page at ${count(size)} rows`);
        figures[q] = await loadTest(service.baseUrl, tenants, queries[q], {
          clients: plan.readClients,
          durationMs: plan.readMs,
          warmupMs: plan.readWarmupMs,
        });
      }
      results.push({ rows: size, queries: figures });
    } finally {
      await service.stop();
    }
  }
  return results;
}

/** `--idle`: the idle footprint alone, with a nats-server of its own. */
async function idleOnly(plan: BenchPlan, dir: string) {
  const nats = await startNatsServer({ dir: `${dir}/nats` });
  const nc = await connectWs(nats.wsUrl);
  try {
    await createStream(await jetstreamManager(nc));
    return await idleFootprint({
      natsUrl: nats.wsUrl,
      dir,
      secret: SECRET,
      durable: "bench-idle",
      settleMs: plan.idleSettleMs,
    });
  } finally {
    await nc.close();
    await nats.stop();
  }
}

function targetLine(name: string, measured: number, comparison: ">=" | "<=", threshold: number) {
  const pass = comparison === ">=" ? measured >= threshold : measured <= threshold;
  console.log(
    `\ntarget: ${name} = ${measured.toFixed(2)} (need ${comparison} ${threshold}): ${
      pass ? "PASS" : "FAIL"
    }`,
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      events: { type: "string" },
      out: { type: "string" },
      keep: { type: "boolean", default: false },
      flood: { type: "boolean", default: false },
      "read-peer": { type: "boolean", default: false },
      rows: { type: "string" },
      idle: { type: "boolean", default: false },
    },
  });
  const plan = benchPlan(values.quick ?? false, values.events ? Number(values.events) : undefined);
  const out = values.out ??
    (values.quick ? undefined : new URL("./results.json", import.meta.url).pathname);
  const dir = await Deno.makeTempDir({ prefix: "session-audit-bench-" });
  progress(`working in ${dir}`);
  try {
    if (values["read-peer"]) {
      const rows = values.rows ? Number(values.rows) : Math.max(...plan.readSizes);
      const data = await readData(plan, dir);
      await fillTo(data, rows);
      const figures = await comparePeer(plan, data, dir);
      console.log(formatReadPeer(figures));
      targetLine("read first req/s, service / peer", figures.ratio, ">=", THRESHOLDS.readOverPeer);
    } else if (values.idle) {
      const figures = await idleOnly(plan, dir);
      console.log(formatIdle(figures));
      targetLine("idle RSS, MB", figures.rssMB, "<=", THRESHOLDS.idleRssMB);
    } else if (values.flood) {
      const figures = await floodBench(floodPlan(values.quick ?? false), dir, SECRET, progress);
      console.log(formatFlood(figures));
      const pass = figures.p99Ratio <= 2;
      console.log(
        `\ntarget: quiet list p99 under flood / alone = ${
          figures.p99Ratio.toFixed(2)
        } (need <= 2): ${pass ? "PASS" : "FAIL"}`,
      );
    } else {
      const results = await runBench(plan, dir);
      console.log(formatResults(results));
      if (out) {
        await Deno.writeTextFile(out, JSON.stringify(results, null, 2) + "\n");
        progress(`figures written to ${out}`);
      }
    }
  } finally {
    if (!values.keep) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * The benchmark's results: their JSON shape, the targets checked against
 * them, and the plain-text table printed at the end of a run.
 *
 * @module
 */
import type { Rate } from "./consumers.ts";
import type { FloodFigures } from "./flood.ts";
import type { HistogramCost, IdleFigures } from "./footprint.ts";
import type { ReadFigures } from "./read.ts";
import type { ReadPeerFigures } from "./read_peer.ts";

/** The targets' thresholds (issue 18 for the footprint and the peer). */
export const THRESHOLDS = Object.freeze({
  ingestOverCeiling: 0.8,
  ingestOverNaive: 4,
  peakRssMB: 128,
  idleRssMB: 64,
  readOverPeer: 0.85,
  readScaling: 1.5,
  floodP99: 2,
});

/** The three read queries. */
export const READ_QUERIES = ["first", "deep", "device"] as const;
/** One of {@linkcode READ_QUERIES}. */
export type ReadQuery = typeof READ_QUERIES[number];

/** Read figures at one table size. */
export interface ReadAtSize {
  rows: number;
  queries: Record<ReadQuery, ReadFigures>;
}

/** One target and how the run did against it. */
export interface TargetResult {
  name: string;
  /** The measured ratio or value. */
  measured: number;
  /** `>=` or `<=` the threshold passes. */
  comparison: ">=" | "<=";
  threshold: number;
  pass: boolean;
}

/** Everything one run measured. */
export interface BenchResults {
  date: string;
  machine: { cpus: number; model: string; deno: string; os: string };
  settings: {
    events: number;
    batchSize: number;
    maxAckPending: number;
    readClients: number;
    readSeconds: number;
  };
  /** JSON parse + valibot + normalise, in the benchmark process. */
  decode: Rate;
  consumeCeiling: Rate;
  /** `storeBatch` with 500 rows per transaction. */
  storeCeiling: Rate;
  /** `storeBatch` with the service's largest transaction (behind a deep backlog). */
  storeCeilingLargest: Rate & { rowsPerTransaction: number };
  naiveBaseline: Rate;
  ingest: Rate & { peakRssMB: number; stored: number; duplicates: number; quarantined: number };
  /** Absent when the read API could not be measured. */
  read?: ReadAtSize[];
  readError?: string;
  /** The first page against the bare peer (bench/peer.ts), at the largest read size. */
  readPeer?: ReadPeerFigures;
  /** The service's resident memory when idle. */
  idle: IdleFigures;
  /** The ingest's histogram work per event, timed in the benchmark process. */
  histogramCost: HistogramCost;
  /** The fair-sharing scenario (bench/flood.ts); absent when not run. */
  flood?: FloodFigures;
  floodError?: string;
  targets: TargetResult[];
}

/** Checks the targets against the figures of one run. */
export function checkTargets(r: Omit<BenchResults, "targets">): TargetResult[] {
  const targets: TargetResult[] = [];
  const add = (name: string, measured: number, comparison: ">=" | "<=", threshold: number) =>
    targets.push({
      name,
      measured,
      comparison,
      threshold,
      pass: comparison === ">=" ? measured >= threshold : measured <= threshold,
    });
  // The better of the two store ceilings, so that larger transactions never flatter the ratio.
  const store = Math.max(r.storeCeiling.perSecond, r.storeCeilingLargest.perSecond);
  const ceiling = Math.min(r.consumeCeiling.perSecond, store);
  const t = THRESHOLDS;
  add(
    "ingest / min(consume, store ceiling)",
    r.ingest.perSecond / ceiling,
    ">=",
    t.ingestOverCeiling,
  );
  add(
    "ingest / naive baseline",
    r.ingest.perSecond / r.naiveBaseline.perSecond,
    ">=",
    t.ingestOverNaive,
  );
  add("ingest peak RSS, MB", r.ingest.peakRssMB, "<=", t.peakRssMB);
  add("idle RSS, MB", r.idle.rssMB, "<=", t.idleRssMB);
  if (r.read && r.read.length >= 2) {
    const small = r.read[0];
    const large = r.read[r.read.length - 1];
    for (const q of READ_QUERIES) {
      add(
        `read ${q} p50 @${count(large.rows)} / @${count(small.rows)}`,
        large.queries[q].p50Ms / small.queries[q].p50Ms,
        "<=",
        t.readScaling,
      );
    }
  }
  if (r.readPeer) {
    add(
      `read first req/s @${count(r.readPeer.rows)}, service / peer`,
      r.readPeer.ratio,
      ">=",
      t.readOverPeer,
    );
  }
  if (r.flood) add("quiet list p99 under flood / alone", r.flood.p99Ratio, "<=", t.floodP99);
  return targets;
}

/** The flood scenario's lines of the printed results. */
export function formatFlood(f: FloodFigures): string {
  const rows = [[
    "quiet tenant GET /v1/session-ends?limit=50",
    "requests",
    "errors",
    "p50 ms",
    "p99 ms",
    "max ms",
  ]];
  for (const [name, x] of [["alone", f.alone], ["while a noisy tenant floods", f.flood]] as const) {
    rows.push([name, int(x.requests), int(x.errors), ms(x.p50Ms), ms(x.p99Ms), ms(x.maxMs)]);
  }
  const answers = Object.entries(f.noisy.answers).sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}: ${int(v)}`).join(", ");
  return [
    table(rows),
    `(${f.plan.quietRate} lists/s, ${f.plan.measureMs / 1000} s each, ${int(f.plan.rows)} rows; ` +
    `noisy: ${Object.entries(f.plan.noisy).map(([k, v]) => `${v} ${k}`).join(", ")})`,
    `noisy tenant's answers: ${answers}; ${int(f.noisy.exportBytes / 1e6)} MB exported`,
  ].join("\n");
}

/** The service-versus-peer lines: each run's req/s, in order, and the ratio. */
export function formatReadPeer(f: ReadPeerFigures): string {
  const rows = [["read first page vs bare peer", "run", "req/s", "p50 ms", "p99 ms"]];
  for (const side of ["service", "peer"] as const) {
    f[side].forEach((x, i) =>
      rows.push([side, String(i + 1), int(x.perSecond), ms(x.p50Ms), ms(x.p99Ms)])
    );
  }
  return [
    table(rows),
    `(${count(f.rows)} rows, runs alternating; service / peer = ${f.ratio.toFixed(3)}; ` +
    `CPU per request: service ${f.serviceCpuMsPerRequest.toFixed(2)} ms, ` +
    `peer ${f.peerCpuMsPerRequest.toFixed(2)} ms)`,
  ].join("\n");
}

/** The idle-memory line. */
export function formatIdle(f: IdleFigures): string {
  return `idle RSS (VmRSS, ${f.settleMs / 1000} s after ready): ${f.rssMB.toFixed(1)} MB ` +
    `(anonymous ${f.anonMB.toFixed(1)}, mapped files ${f.fileMB.toFixed(1)})`;
}

/** The histogram-overhead line: ns per event, and that as a share of an event's time in the drain. */
export function formatHistogramCost(cost: HistogramCost, ingestPerSecond: number): string {
  const share = cost.nsPerEvent * ingestPerSecond / 1e9;
  return `histogram overhead on ingest: ${cost.nsPerEvent.toFixed(1)} ns per event ` +
    `(timed alone), ${(share * 100).toFixed(2)} % of the drain's time per event`;
}

/** 1000000 → "1M", 10000 → "10k". */
export function count(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000}k`;
  return String(n);
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => n.toFixed(n < 10 ? 2 : 1);

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows.map((row, i) => {
    const line = row.map((cell, c) => c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))
      .join("  ");
    return i === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
  }).join("\n");
}

/** The results as the text table the benchmark prints. */
export function formatResults(r: BenchResults): string {
  const parts: string[] = [];
  parts.push(
    `session-audit bench — ${r.date} — ${r.machine.cpus} × ${r.machine.model}, deno ${r.machine.deno}`,
  );
  parts.push(
    `backlog ${int(r.settings.events)} events, INGEST_BATCH_SIZE ${r.settings.batchSize}, ` +
      `max_ack_pending ${r.settings.maxAckPending}`,
  );
  parts.push("");
  parts.push(table([
    ["throughput", "messages", "seconds", "msg/s"],
    ...([
      ["consume ceiling (ack only)", r.consumeCeiling],
      ["store ceiling (storeBatch, 500 rows/tx)", r.storeCeiling],
      [
        `store ceiling (storeBatch, ${r.storeCeilingLargest.rowsPerTransaction} rows/tx)`,
        r.storeCeilingLargest,
      ],
      ["naive baseline (insert+ack each)", r.naiveBaseline],
      ["ingest (service, backlog drain)", r.ingest],
      ["decode only (JSON + valibot)", r.decode],
    ] as const).map(([name, x]) => [name, int(x.messages), x.seconds.toFixed(2), int(x.perSecond)]),
  ]));
  parts.push(
    `ingest peak RSS (VmHWM): ${r.ingest.peakRssMB.toFixed(1)} MB; stored ${
      int(r.ingest.stored)
    }, duplicates ${int(r.ingest.duplicates)}, quarantined ${int(r.ingest.quarantined)}`,
  );
  parts.push(formatHistogramCost(r.histogramCost, r.ingest.perSecond));
  parts.push(formatIdle(r.idle));
  parts.push("");
  if (r.read) {
    const rows = [["read GET /v1/session-ends?limit=50", "rows", "req/s", "p50 ms", "p99 ms"]];
    for (const q of READ_QUERIES) {
      for (const size of r.read) {
        const f = size.queries[q];
        rows.push([q, count(size.rows), int(f.perSecond), ms(f.p50Ms), ms(f.p99Ms)]);
      }
    }
    parts.push(table(rows));
    parts.push(`(${r.settings.readClients} concurrent clients, ${r.settings.readSeconds} s each)`);
    if (r.readPeer) parts.push("", formatReadPeer(r.readPeer));
  } else {
    parts.push(`read: not measured (${r.readError ?? "skipped"})`);
  }
  parts.push("");
  if (r.flood) {
    parts.push(formatFlood(r.flood));
    parts.push("");
  } else if (r.floodError) {
    parts.push(`flood: not measured (${r.floodError})`, "");
  }
  parts.push(table([
    ["target", "measured", "need", "result"],
    ...r.targets.map((t) => [
      t.name,
      t.measured.toFixed(2),
      `${t.comparison} ${t.threshold}`,
      t.pass ? "PASS" : "FAIL",
    ]),
  ]));
  return parts.join("\n");
}

/**
 * The footprint lines of the benchmark: the service's resident memory
 * when idle (started, connected, migrated, caught up, left alone a few
 * seconds) and the cost of the ingest's histograms per event.
 *
 * @module
 */
import { Metrics } from "../src/metrics.ts";
import { freePort } from "../scripts/nats_server.ts";
import { procStatusMiB, startService } from "./service.ts";

/** Resident memory of an idle service, MB (10^6 bytes), from /proc/<pid>/status. */
export interface IdleFigures {
  /** `VmRSS` after `settleMs`. */
  rssMB: number;
  /** Of which anonymous memory (`RssAnon`: V8's heap, malloc arenas). */
  anonMB: number;
  /** Of which mapped files (`RssFile`: the deno binary, libSQL's native module). */
  fileMB: number;
  /** How long the service was left idle before the reading, ms. */
  settleMs: number;
}

const MB = 1024 * 1024 / 1e6;

/**
 * Starts the service (`ROLE=all`, as `deno task start` does) on a fresh
 * database in `dir` with its own durable consumer `durable` on an empty
 * stream, waits until `/readyz` answers 200, then `settleMs`, and reads its
 * resident memory. The caller deletes the durable.
 */
export async function idleFootprint(options: {
  natsUrl: string;
  dir: string;
  secret: string;
  durable: string;
  settleMs?: number;
}): Promise<IdleFigures> {
  const settleMs = options.settleMs ?? 5_000;
  const service = await startService({
    NATS_URL: options.natsUrl,
    NATS_DURABLE: options.durable,
    DATABASE_URL: `file:${options.dir}/idle.db`,
    PORT: String(freePort()),
    API_JWT_SECRET: options.secret,
    LOG_LEVEL: "warn",
  }, `${options.dir}/idle.log`);
  try {
    const deadline = Date.now() + 30_000;
    while (true) {
      const res = await fetch(`${service.baseUrl}/readyz`);
      await res.body?.cancel();
      if (res.ok) break;
      if (Date.now() > deadline) throw new Error("the idle service was not ready within 30 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const status = await Deno.readTextFile(`/proc/${service.pid}/status`);
    const kB = (field: string) =>
      Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1]);
    return {
      rssMB: (await procStatusMiB(service.pid, "VmRSS")) * MB,
      anonMB: kB("RssAnon") / 1024 * MB,
      fileMB: kB("RssFile") / 1024 * MB,
      settleMs,
    };
  } finally {
    await service.stop();
  }
}

/** What the ingest's histograms cost. */
export interface HistogramCost {
  /** Nanoseconds of histogram work per event (one lag observation, plus a batch's two shared). */
  nsPerEvent: number;
  /** Events timed. */
  events: number;
}

/**
 * Times, in this process, the histogram work the ingest does: per event one
 * observation of `session_audit_end_to_end_lag_seconds` (the series looked
 * up once per batch, as `ackAfterCommit` does), per batch of `batchSize` one
 * of the commit duration and one of the batch size (each looked up by name,
 * as `settle.ts` does). Lags spread over 10 ms to 60 s, so the bucket search
 * walks as it does in a drain. The best of five rounds of `events` events.
 */
export function histogramCost(events = 1_000_000, batchSize = 500): HistogramCost {
  const metrics = new Metrics();
  const lags = new Float64Array(4096);
  for (let i = 0; i < lags.length; i++) lags[i] = 0.01 * Math.pow(6000, (i * 0.618) % 1);
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const started = performance.now();
    for (let done = 0; done < events; done += batchSize) {
      const lag = metrics.histogram("session_audit_end_to_end_lag_seconds");
      for (let i = 0; i < batchSize; i++) lag.observe(lags[(done + i) & 4095]);
      metrics.histogram("session_audit_batch_commit_duration_seconds").observe(0.05);
      metrics.histogram("session_audit_batch_size_messages").observe(batchSize);
    }
    best = Math.min(best, performance.now() - started);
  }
  return { nsPerEvent: best * 1e6 / events, events };
}

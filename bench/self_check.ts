/**
 * What the integrity self-check costs ingest: the real service drains the
 * same backlog several times, alternately with the self-check every second
 * (`INTEGRITY_CHECK_INTERVAL_SECONDS=1`, far shorter than anyone would run
 * it) and without, each time on a fresh database and a durable consumer of
 * its own, everything else equal (a signing key, checkpoints every second,
 * published to their copy). The figure is the ratio of the median drain
 * rates, measured in the same run.
 *
 * Usage: `deno run -A bench/self_check.ts [--events N] [--pairs P]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { freePort, startNatsServer } from "../scripts/nats_server.ts";
import { BENCH_STREAM, sessionEndMessages } from "./events.ts";
import { connectWs, createStream, publishAll, timeDrain } from "./nats.ts";
import { settledEvents, startService } from "./service.ts";

const SECRET = "bench-secret-bench-secret-bench-secret-0123456789";

/** One drain. */
export interface SelfCheckDrain {
  selfCheck: boolean;
  msgPerSec: number;
  /** Self-check rounds completed during the drain (0 when off). */
  rounds: number;
  peakRssMB: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function progress(message: string): void {
  console.error(`[bench self-check ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** Drains `events` messages `2 × pairs` times, off and on alternately; returns each drain. */
export async function benchSelfCheck(
  dir: string,
  events: number,
  pairs: number,
): Promise<SelfCheckDrain[]> {
  const nats = await startNatsServer({ dir: `${dir}/nats` });
  const nc = await connectWs(nats.wsUrl);
  const drains: SelfCheckDrain[] = [];
  try {
    const jsm = await jetstreamManager(nc);
    await createStream(jsm);
    progress(`publishing ${events} session ends`);
    const lastSeq = await publishAll(jetstream(nc), sessionEndMessages({ count: events }));
    for (let i = 0; i < pairs * 2; i++) {
      const selfCheck = i % 2 === 1;
      const durable = `bench-self-check-${i}`;
      const database = `${dir}/drain-${i}.db`;
      progress(`drain ${i + 1}/${pairs * 2}, self-check ${selfCheck ? "every second" : "off"}`);
      const service = await startService({
        NATS_URL: nats.wsUrl,
        NATS_DURABLE: durable,
        DATABASE_URL: `file:${database}`,
        PORT: String(freePort()),
        API_JWT_SECRET: SECRET,
        AUDIT_SIGNING_KEY: SECRET,
        CHECKPOINT_INTERVAL_SECONDS: "1",
        INTEGRITY_CHECK_INTERVAL_SECONDS: selfCheck ? "1" : "0",
        LOG_LEVEL: "warn",
      }, `${dir}/drain-${i}.log`);
      try {
        const settled = () => settledEvents(service);
        const timing = await timeDrain(jsm, durable, lastSeq, {
          almostDone: async () => await settled() >= events,
        });
        drains.push({
          selfCheck,
          msgPerSec: events / ((timing.drainedMs - timing.firstDeliveryMs) / 1000),
          rounds: await service.metric("session_audit_integrity_checks_total") ?? 0,
          peakRssMB: (await service.peakRssMiB()) * 1024 * 1024 / 1e6,
        });
      } finally {
        await service.stop();
        await jsm.consumers.delete(BENCH_STREAM.name, durable).catch(() => {});
        for (const suffix of ["", "-wal", "-shm"]) {
          await Deno.remove(database + suffix).catch(() => {});
        }
      }
    }
  } finally {
    await nc.close();
    await nats.stop();
  }
  return drains;
}

/** The drains as a table, and the ratio of the medians. */
export function formatSelfCheck(drains: SelfCheckDrain[]): string {
  const rows = drains.map((d, i) =>
    `${String(i + 1).padStart(5)}  ${(d.selfCheck ? "every 1 s" : "off").padEnd(10)}  ${
      Math.round(d.msgPerSec).toLocaleString("en").padStart(8)
    }  ${String(d.rounds).padStart(6)}  ${d.peakRssMB.toFixed(1).padStart(7)}`
  );
  const off = median(drains.filter((d) => !d.selfCheck).map((d) => d.msgPerSec));
  const on = median(drains.filter((d) => d.selfCheck).map((d) => d.msgPerSec));
  return [
    "drain  self-check   msg/s  rounds  peak MB",
    ...rows,
    `ingest with the self-check every second ÷ without (medians): ${(on / off).toFixed(3)}`,
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { events: { type: "string" }, pairs: { type: "string" } },
  });
  const dir = await Deno.makeTempDir({ prefix: "session-audit-bench-self-check-" });
  try {
    const drains = await benchSelfCheck(
      dir,
      Number(values.events ?? 100_000),
      Number(values.pairs ?? 3),
    );
    console.log(formatSelfCheck(drains));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

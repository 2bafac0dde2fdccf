/**
 * The read path against its bare peer: the service (`ROLE=api`, started as
 * `deno task start` starts it) and `bench/peer.ts` on the same database,
 * loaded in turn by one load generator with the same tenant tokens on
 * `GET /v1/session-ends?limit=50`; the target is the ratio of their
 * requests per second.
 *
 * @module
 */
import { freePort } from "../scripts/nats_server.ts";
import { loadTest, type ReadFigures, type ReadTenant } from "./read.ts";
import { startService } from "./service.ts";

/** `API_RATE_LIMIT_PER_TENANT` of the read scenarios: the limit is checked, never reached. */
export const READ_RATE_LIMIT = 1_000_000;

/** Sizes of one comparison. */
export interface ReadPeerPlan {
  /** Load runs of each side; they alternate, the side that goes first switching each round. */
  alternations: number;
  clients: number;
  durationMs: number;
  warmupMs: number;
}

/** The comparison's figures. */
export interface ReadPeerFigures {
  rows: number;
  /** Each of the service's runs, in order. */
  service: ReadFigures[];
  /** Each of the peer's runs, in order. */
  peer: ReadFigures[];
  /** All the service's requests over all the peer's (the runs last the same). */
  ratio: number;
  /** CPU time the service process used per request, over all its runs, ms (`/proc/<pid>/stat`). */
  serviceCpuMsPerRequest: number;
  /** The same for the peer. */
  peerCpuMsPerRequest: number;
}

/** CPU time (user + system) a process has used so far, ms. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
}

/**
 * Starts the service and the peer on the database at `path` (already
 * filled with `rows` rows) and alternates their load runs.
 */
export async function readPeerBench(
  options: {
    path: string;
    rows: number;
    tenants: ReadTenant[];
    secret: string;
    natsUrl?: string;
    dir: string;
    plan: ReadPeerPlan;
    progress?: (message: string) => void;
  },
): Promise<ReadPeerFigures> {
  const { path, tenants, secret, dir, plan } = options;
  const progress = options.progress ?? (() => {});
  const service = await startService({
    ROLE: "api",
    ...(options.natsUrl ? { NATS_URL: options.natsUrl } : {}),
    DATABASE_URL: `file:${path}`,
    PORT: String(freePort()),
    API_JWT_SECRET: secret,
    // Counted but never reached: the load asks far more than the default 1,200 a minute.
    API_RATE_LIMIT_PER_TENANT: String(READ_RATE_LIMIT),
    LOG_LEVEL: "warn",
  }, `${dir}/read-service.log`);
  try {
    const peer = await startService(
      {
        DATABASE_URL: `file:${path}`,
        PORT: String(freePort()),
        API_JWT_SECRET: secret,
      },
      `${dir}/read-peer.log`,
      {
        args: [
          "run",
          "--allow-net",
          "--allow-env",
          "--allow-read",
          "--allow-write",
          "--allow-ffi",
          "--allow-sys",
          "bench/peer.ts",
        ],
      },
    );
    try {
      const figures: ReadPeerFigures = {
        rows: options.rows,
        service: [],
        peer: [],
        ratio: NaN,
        serviceCpuMsPerRequest: NaN,
        peerCpuMsPerRequest: NaN,
      };
      const cpu = { service: 0, peer: 0 };
      const paths = ["/v1/session-ends?limit=50"];
      const load = (baseUrl: string) =>
        loadTest(baseUrl, tenants, paths, {
          clients: plan.clients,
          durationMs: plan.durationMs,
          warmupMs: plan.warmupMs,
        });
      for (let round = 0; round < plan.alternations; round++) {
        const order = round % 2 === 0 ? ["service", "peer"] as const : ["peer", "service"] as const;
        for (const side of order) {
          progress(`read vs peer: ${side}, run ${round + 1} of ${plan.alternations}`);
          const process = side === "service" ? service : peer;
          const cpuBefore = await cpuMs(process.pid);
          const result = await load(process.baseUrl);
          cpu[side] += await cpuMs(process.pid) - cpuBefore;
          if (result.errors > 0) throw new Error(`the ${side} answered ${result.errors} errors`);
          figures[side].push(result);
        }
      }
      const total = (runs: ReadFigures[]) => runs.reduce((sum, r) => sum + r.requests, 0);
      figures.ratio = total(figures.service) / total(figures.peer);
      // Warm-up requests cost CPU too but are not counted: both sides alike.
      figures.serviceCpuMsPerRequest = cpu.service / total(figures.service);
      figures.peerCpuMsPerRequest = cpu.peer / total(figures.peer);
      return figures;
    } finally {
      await peer.stop();
    }
  } finally {
    await service.stop();
  }
}

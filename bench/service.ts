/**
 * The real service as a subprocess (`deno task start`'s command line): started with
 * a given environment, its log kept in a file, its peak resident memory read
 * from /proc, stopped with SIGTERM.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { startTaskArgs } from "../scripts/start_task.ts";

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A running service process. */
export interface ServiceProcess {
  /** Pid of the deno process itself (spawned directly, no shell in between). */
  readonly pid: number;
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  /** VmHWM of the process: its peak resident set so far, in MiB. */
  peakRssMiB(): Promise<number>;
  /** The value of one sample of a Prometheus metric from `GET /metrics`, or undefined. */
  metric(name: string, labels?: string): Promise<number | undefined>;
  /**
   * The values of several samples (`name{labels}` as exposed) from one
   * `GET /metrics`, undefined for each one not exposed.
   */
  samples(keys: string[]): Promise<(number | undefined)[]>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
}

/** Messages the service has settled (stored, duplicate or quarantined), from one `GET /metrics`. */
export async function settledEvents(service: ServiceProcess): Promise<number> {
  const samples = await service.samples(
    ["stored", "duplicate", "quarantined"].map((o) => `session_audit_events_total{outcome="${o}"}`),
  );
  return samples.reduce((a: number, b) => a + (b ?? 0), 0);
}

/** Reads a `Vm…` line of /proc/<pid>/status, in MiB. */
export async function procStatusMiB(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

/**
 * Starts the service as `deno task start` does (or another program of the
 * repository: `options.args`, the arguments of `deno`), with `env` (on top
 * of PATH and HOME), and waits until `GET /healthz` answers.
 */
export async function startService(
  env: Record<string, string>,
  logPath: string,
  options: { args?: string[] } = {},
): Promise<ServiceProcess> {
  const port = Number(env.PORT);
  const child = new Deno.Command(Deno.execPath(), {
    args: options.args ?? await startTaskArgs(env.ROLE),
    cwd: REPO_ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      DENO_DIR: Deno.env.get("DENO_DIR") ?? "",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // One handle per stream: a writable takes one pipe at a time, and an
  // undrained pipe would stall the service as soon as its buffer fills.
  const logged = Promise.all([child.stdout, child.stderr].map(async (output) => {
    const log = await Deno.open(logPath, { create: true, append: true });
    await output.pipeTo(log.writable).catch(() => {});
  }));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  let exited: Deno.CommandStatus | undefined;
  child.status.then((status) => exited = status);
  while (true) {
    if (exited) throw new Error(`the service exited with ${exited.code} at start: see ${logPath}`);
    try {
      const res = await fetch(`${baseUrl}/healthz`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the service did not answer /healthz within 60 s: see ${logPath}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const samples = async (keys: string[]) => {
    const lines = (await (await fetch(`${baseUrl}/metrics`)).text()).split("\n");
    return keys.map((key) => {
      const line = lines.find((l) => l.startsWith(`${key} `));
      return line === undefined ? undefined : Number(line.split(" ").at(-1));
    });
  };
  return {
    pid: child.pid,
    baseUrl,
    peakRssMiB: () => procStatusMiB(child.pid, "VmHWM"),
    async metric(name, labels = "") {
      return (await samples([`${name}${labels}`]))[0];
    },
    samples,
    async stop(graceMs = 15_000) {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone
        }
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, graceMs);
      const status = await child.status;
      clearTimeout(timer);
      await logged;
      return status.code;
    },
  };
}

/**
 * Prometheus for tests: `promtool` runs, and a real Prometheus server on a
 * free loopback port, in its own temporary directory, queried through its
 * HTTP API.
 *
 * @module
 */
import { freePort, waitFor } from "./harness.ts";

/** What a finished `promtool` run printed, and how it exited. */
export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Finds a binary of Debian's `prometheus` package on the PATH or in /usr/bin; throws how to install it. */
async function findBinary(name: "promtool" | "prometheus"): Promise<string> {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/bin"]);
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      if ((await Deno.stat(`${dir}/${name}`)).isFile) return `${dir}/${name}`;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} not found: install Debian's package (apt-get install prometheus)`);
}

/** Runs `promtool` with `args` (in `cwd`), `stdin` on its standard input. */
export async function promtool(
  args: string[],
  options: { stdin?: string; cwd?: string } = {},
): Promise<ToolRun> {
  const child = new Deno.Command(await findBinary("promtool"), {
    args,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** One alert as Prometheus's `/api/v1/alerts` lists it. */
export interface ActiveAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "pending" | "firing";
  value: string;
}

/** A Prometheus server started by {@linkcode startPrometheus}. */
export interface PrometheusServer {
  readonly baseUrl: string;
  /** Its log so far (stderr lines). */
  readonly logs: string[];
  /** The alerts pending or firing now. */
  alerts(): Promise<ActiveAlert[]>;
  /** Evaluates an instant query; the samples' labels and values. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startPrometheus}. */
export interface PrometheusOptions {
  /** `host:port` of each scrape target of the job. */
  targets: string[];
  /** The job's name. @default "session-audit" */
  job?: string;
  /** Absolute paths of rule files to load. @default [] */
  ruleFiles?: string[];
  /** Scrape and rule evaluation interval. @default "1s" */
  interval?: string;
}

/**
 * Starts `/usr/bin/prometheus` (or the PATH's) on a free loopback port with
 * its own temporary directory, scraping `targets` and evaluating
 * `ruleFiles` every `interval`; resolves once it answers `/-/ready`.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-prometheus-" });
  const interval = options.interval ?? "1s";
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: [{
      job_name: options.job ?? "session-audit",
      static_configs: [{ targets: options.targets }],
    }],
  };
  // JSON is YAML: Prometheus reads it as its configuration file.
  await Deno.writeTextFile(`${dir}/prometheus.yml`, JSON.stringify(config, null, 2));
  const port = freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = new Deno.Command(await findBinary("prometheus"), {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logs: string[] = [];
  const collected = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      logs.push(...chunk.split("\n").filter((line) => line !== ""));
    }
  })();
  const api = async (path: string) => {
    const res = await fetch(baseUrl + path);
    const body = await res.json();
    if (body.status !== "success") throw new Error(`${path}: ${JSON.stringify(body)}`);
    return body.data;
  };
  const server: PrometheusServer = {
    baseUrl,
    logs,
    async alerts() {
      return (await api("/api/v1/alerts")).alerts;
    },
    async query(expr) {
      const data = await api(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      return data.result.map((r: { metric: Record<string, string>; value: [number, string] }) => ({
        metric: r.metric,
        value: Number(r.value[1]),
      }));
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      await child.status;
      await collected;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  try {
    await waitFor(
      "prometheus's /-/ready",
      () => fetch(`${baseUrl}/-/ready`).then((r) => r.text().then(() => r.ok)),
      30_000,
      100,
    );
  } catch (err) {
    await server.stop();
    throw new Error(`${(err as Error).message}\n${logs.join("\n")}`);
  }
  return server;
}

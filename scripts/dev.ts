/**
 * `deno task dev`: the whole system on one machine, in one command. Starts a
 * local nats-server (JetStream + WebSocket, data in `.dev/`), creates
 * `DEVICE_EVENTS` as the poller would, runs the service and the poller
 * simulator, prints an admin token once the service is ready, and on Ctrl-C
 * or SIGTERM stops everything in order: simulator, service, nats-server.
 *
 * @module
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { wsconnect } from "@nats-io/nats-core";
import { mintToken } from "../src/api/token.ts";
import { type NatsServer, startNatsServer } from "./nats_server.ts";
import { DEVICE_EVENTS_STREAM, ensureDeviceEventsStream } from "./simulator.ts";
import { startTaskArgs } from "./start_task.ts";

/** NATS client port of the dev server. */
export const DEV_NATS_PORT = 4222;
/** NATS WebSocket port of the dev server: the service's default `NATS_URL`. */
export const DEV_WS_PORT = 8080;
/** The service's default HTTP port. */
export const DEV_HTTP_PORT = 8000;
/** Events per second the simulator publishes. */
export const DEV_EVENT_RATE = 2;

const HOST = "127.0.0.1";
const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");
const DEV_DIR = `${ROOT}/.dev`;
const SECRET_FILE = `${DEV_DIR}/jwt-secret`;
/** How long the service and the simulator get to stop before SIGKILL. */
const STOP_GRACE_MS = 15_000;

function say(line: string): void {
  console.error(`dev: ${line}`);
}

/** Returns the name of the first port in use, or undefined when all are free. */
function portInUse(ports: Record<number, string>): string | undefined {
  for (const [port, what] of Object.entries(ports)) {
    try {
      Deno.listen({ hostname: HOST, port: Number(port) }).close();
    } catch (err) {
      if (err instanceof Deno.errors.AddrInUse) return `port ${port} (${what})`;
      throw err;
    }
  }
  return undefined;
}

/** The dev JWT secret: generated once, then kept in `.dev/jwt-secret`. */
async function devSecret(): Promise<string> {
  try {
    const kept = (await Deno.readTextFile(SECRET_FILE)).trim();
    if (kept.length >= 32) return kept;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const secret = btoa(String.fromCharCode(...bytes)).replace(
    /[+/=]/g,
    (c) => c === "+" ? "-" : c === "/" ? "_" : "",
  );
  await Deno.writeTextFile(SECRET_FILE, secret + "\n", { mode: 0o600 });
  return secret;
}

/** Sends SIGTERM, waits, and SIGKILLs after {@linkcode STOP_GRACE_MS}. */
async function stopChild(child: Deno.ChildProcess, name: string): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // already exited
  }
  const timer = setTimeout(() => {
    say(`${name} did not stop within ${STOP_GRACE_MS / 1000} s: killing it`);
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, STOP_GRACE_MS);
  await child.status;
  clearTimeout(timer);
}

/** Polls `/readyz` until it answers 200; resolves false when `stop` comes first. */
async function waitUntilReady(url: string, stop: AbortSignal): Promise<boolean> {
  const started = Date.now();
  let lastReason = "";
  let nextNote = 15_000;
  while (!stop.aborted) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      lastReason = await response.text();
      if (response.status === 200) return true;
    } catch (err) {
      lastReason = (err as Error).message;
    }
    if (Date.now() - started > nextNote) {
      say(`still waiting for ${url}: ${lastReason.trim().slice(0, 200)}`);
      nextNote += 15_000;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

/** Runs the dev stack until SIGINT or SIGTERM; resolves to the exit code. */
export async function main(): Promise<number> {
  const taken = portInUse({
    [DEV_NATS_PORT]: "NATS",
    [DEV_WS_PORT]: "NATS WebSocket",
    [DEV_HTTP_PORT]: "the service's HTTP",
  });
  if (taken) {
    say(`${taken} is already in use: stop what listens there (another \`deno task dev\`?)`);
    return 1;
  }

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);

  await Deno.mkdir(DEV_DIR, { recursive: true });
  const secret = await devSecret();
  let nats: NatsServer | undefined;
  let service: Deno.ChildProcess | undefined;
  let simulator: Deno.ChildProcess | undefined;
  let code = 0;
  try {
    nats = await startNatsServer({
      dir: `${DEV_DIR}/nats`,
      port: DEV_NATS_PORT,
      wsPort: DEV_WS_PORT,
      extraConfig: `log_file: "${DEV_DIR}/nats/nats-server.log"`,
      detached: true,
    });
    say(`nats-server on ${nats.natsUrl} and ${nats.wsUrl} (data and log in .dev/nats)`);

    const nc = await wsconnect({ servers: nats.wsUrl, name: "session-audit-dev" });
    try {
      const { created } = await ensureDeviceEventsStream(await jetstreamManager(nc));
      say(`stream ${DEVICE_EVENTS_STREAM.name} ${created ? "created" : "already exists"}`);
    } finally {
      await nc.close();
    }
    if (stop.signal.aborted) return 0;

    // Own sessions (detached): a terminal's Ctrl-C reaches only this process,
    // which stops the children in order.
    const deno = Deno.execPath();
    const env = Deno.env.toObject();
    for (const name of ["NATS_TOKEN", "NATS_USER", "NATS_PASSWORD", "NATS_CREDS_FILE"]) {
      delete env[name];
    }
    env.NATS_URL = nats.wsUrl;
    service = new Deno.Command(deno, {
      args: await startTaskArgs(env.ROLE),
      cwd: ROOT,
      env: {
        ...env,
        DATABASE_URL: env.DATABASE_URL || "file:data/audit.db",
        API_JWT_SECRET: secret,
        LOG_LEVEL: env.LOG_LEVEL || "info",
        HOST,
        PORT: String(DEV_HTTP_PORT),
      },
      stdin: "null",
      detached: true,
    }).spawn();
    simulator = new Deno.Command(deno, {
      args: [
        "run",
        "-A",
        "scripts/publish.ts",
        "--count",
        "0",
        "--rate",
        String(DEV_EVENT_RATE),
        "--quiet",
      ],
      cwd: ROOT,
      env,
      stdin: "null",
      detached: true,
    }).spawn();
    const serviceExit = service.status.then((status) => {
      if (!stop.signal.aborted) {
        say(`the service exited on its own (code ${status.code}): stopping`);
        code = 1;
        stop.abort();
      }
    });
    simulator.status.then((status) => {
      if (!stop.signal.aborted) say(`the simulator exited on its own (code ${status.code})`);
    });

    const base = `http://${HOST}:${DEV_HTTP_PORT}`;
    if (await waitUntilReady(`${base}/readyz`, stop.signal)) {
      const token = await mintToken({ secret, admin: true, ttlSeconds: 12 * 3600 });
      console.log(
        [
          "",
          `session-audit is ready on ${base}; the simulator publishes ${DEV_EVENT_RATE} events/s.`,
          "Admin token (valid 12 h):",
          `  ${token}`,
          "Try:",
          `  curl -H "Authorization: Bearer ${token}" '${base}/v1/session-ends?limit=5'`,
          `  curl -s ${base}/metrics | grep session_audit_events_total`,
          "Ctrl-C stops everything.",
          "",
        ].join("\n"),
      );
    }
    await new Promise<void>((resolve) => {
      if (stop.signal.aborted) resolve();
      stop.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    say("stopping: simulator, service, nats-server");
    await stopChild(simulator, "the simulator");
    await stopChild(service, "the service");
    await serviceExit;
    await nats.stop();
    say("stopped");
    return code;
  } catch (err) {
    say((err as Error).message);
    return 1;
  } finally {
    // Whatever happened above, leave nothing running.
    if (simulator) await stopChild(simulator, "the simulator");
    if (service) await stopChild(service, "the service");
    await nats?.stop();
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.removeSignalListener(signal, onSignal);
    }
  }
}

if (import.meta.main) {
  Deno.exit(await main());
}

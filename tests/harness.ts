/**
 * Test harness for integration tests: a real nats-server (WebSocket +
 * JetStream), the service as a child process, and direct looks into its
 * libSQL file.
 *
 * @module
 */
import { wsconnect } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { createClient } from "@libsql/client";
import type { Client } from "@libsql/client";
import { freePort, type NatsServer, startNatsServer } from "../scripts/nats_server.ts";
import { DEVICE_EVENTS_STREAM } from "../scripts/simulator.ts";

export { freePort, type NatsServer, startNatsServer };

/** A JWT secret long enough for the service's check. */
export const TEST_JWT_SECRET = "test-secret-0123456789-abcdefghijklmnop";

/** Resolves when `check` returns a truthy value; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
}

/**
 * Resolves or rejects as `promise` does, or rejects naming `what` after
 * `timeoutMs`: a guard against a test that would otherwise never end, not a
 * speed check.
 */
export async function settles<T>(
  what: string,
  promise: Promise<T>,
  timeoutMs = 20_000,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not happen within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** A NATS client for the test itself. */
export interface TestNats {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  close(): Promise<void>;
}

/** Connects the test to `server` over WebSocket. */
export async function connectTest(server: NatsServer): Promise<TestNats> {
  const nc = await wsconnect({
    servers: server.wsUrl,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  return {
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    close: () => nc.close(),
  };
}

/** Creates DEVICE_EVENTS with the poller's configuration. */
export async function createStream(t: TestNats): Promise<void> {
  await t.jsm.streams.add({ ...DEVICE_EVENTS_STREAM });
}

/** A session-end payload with sensible defaults. */
export interface EventFields {
  session_id?: string;
  tenant_id?: string;
  device_id?: string;
  user_id?: string;
  start_time?: string;
  end_time?: string;
  source_ip?: string;
  reason?: string;
}

/** Builds a valid event; `overrides` replace fields. */
export function sessionEnd(overrides: EventFields = {}): Required<EventFields> {
  return {
    session_id: crypto.randomUUID(),
    tenant_id: "11111111-1111-4111-8111-111111111111",
    device_id: "22222222-2222-4222-8222-222222222222",
    user_id: "33333333-3333-4333-8333-333333333333",
    start_time: "2026-03-12T10:00:00Z",
    end_time: "2026-03-12T10:15:00Z",
    source_ip: "203.0.113.7",
    reason: "normal",
    ...overrides,
  };
}

/** Publishes events as the poller does (js.publish, no message id), in windows. */
export async function publishAll(
  js: JetStreamClient,
  events: Array<{ subject?: string; payload: string | Uint8Array | object }>,
  window = 500,
): Promise<void> {
  for (let i = 0; i < events.length; i += window) {
    await Promise.all(
      events.slice(i, i + window).map(({ subject, payload }) => {
        const data = typeof payload === "string" || payload instanceof Uint8Array
          ? payload
          : JSON.stringify(payload);
        const sid = (payload as { session_id?: unknown }).session_id;
        return js.publish(
          subject ?? `audit.session.end.${typeof sid === "string" ? sid : "x"}`,
          data,
        );
      }),
    );
  }
}

/** The service running as a child process. */
export interface Service {
  readonly port: number;
  readonly baseUrl: string;
  /** The child's process id (to read /proc/<pid>/status, or to kill it from outside). */
  readonly pid: number;
  /** Log lines so far (stderr JSON lines, parsed when possible). */
  readonly logs: string[];
  /** Resolves with the exit status. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Sends a signal and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** GETs a path and parses the JSON body. */
  get(path: string, headers?: HeadersInit): Promise<{ status: number; body: unknown }>;
  /** Reads one metric sample from /metrics. */
  metric(name: string, labels?: string): Promise<number>;
}

/** Options for {@linkcode startService}. */
export interface ServiceOptions {
  natsUrl: string;
  databasePath: string;
  env?: Record<string, string>;
  /** Wait until /healthz answers. @default true */
  waitHealthy?: boolean;
}

/** Starts `src/main.ts` as a child process with a test environment. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../src/main.ts", import.meta.url).pathname],
    env: {
      NATS_URL: options.natsUrl,
      DATABASE_URL: `file:${options.databasePath}`,
      HOST: "127.0.0.1",
      PORT: String(port),
      API_JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: "info",
      ...options.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs: string[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    let buffered = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      logs.push(...lines);
    }
    if (buffered) logs.push(buffered);
  };
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const status = child.status.then(async (s) => {
    await drained;
    return s;
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const service: Service = {
    port,
    baseUrl,
    pid: child.pid,
    logs,
    status,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      return await status;
    },
    async get(path, headers) {
      const res = await fetch(baseUrl + path, { headers });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: res.status, body };
    },
    async metric(name, labels = "") {
      const res = await fetch(baseUrl + "/metrics");
      const text = await res.text();
      const line = text.split("\n").find((l) =>
        l.startsWith(labels ? `${name}{${labels}} ` : `${name} `)
      );
      return line ? Number(line.split(" ").pop()) : NaN;
    },
  };
  if (options.waitHealthy ?? true) {
    await waitFor("the service's /healthz", async () => {
      const exited = await Promise.race([status.then(() => true), Promise.resolve(false)]);
      if (exited) throw new Error(`service exited early:\n${logs.join("\n")}`);
      return (await fetch(baseUrl + "/healthz").then((r) => r.text().then(() => r.ok)).catch(() =>
        false
      ));
    });
  }
  return service;
}

/** A row of session_ends as a test sees it. */
export type StoredRow = Record<string, unknown>;

/** Opens the service's database file for the test's own reads. */
export function openDb(path: string): Client {
  return createClient({ url: `file:${path}` });
}

/** A write lock held on a database file by another connection. */
export interface WriteLock {
  /** Rolls back and closes the connection (idempotent). */
  release(): Promise<void>;
}

/**
 * Takes the write lock of the database at `path` from a connection of its
 * own, as another writer would, and holds it until `release()`.
 */
export async function holdWriteLock(path: string): Promise<WriteLock> {
  const locker = createClient({ url: `file:${path}` });
  const tx = await locker.transaction("write");
  // A write makes sure the lock is the RESERVED one, not just BEGIN IMMEDIATE's intent.
  await tx.execute("CREATE TABLE IF NOT EXISTS test_write_lock (x)");
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await tx.rollback().catch(() => {});
      locker.close();
    },
  };
}

/** All stored session ends, by session_id. */
export async function storedRows(db: Client): Promise<Map<string, StoredRow>> {
  const rs = await db.execute("SELECT * FROM session_ends");
  return new Map(rs.rows.map((r) => [String(r.session_id), { ...r }]));
}

/** Counts rows of a table, 0 when the table does not exist yet. */
export async function countRows(
  db: Client,
  table: "session_ends" | "dead_letters",
): Promise<number> {
  try {
    const rs = await db.execute(`SELECT count(*) AS n FROM ${table}`);
    return Number(rs.rows[0].n);
  } catch {
    return 0;
  }
}

/** Rows plus dead letters: each message consumed is stored or quarantined, never neither. */
export async function storedOrQuarantined(db: Client): Promise<number> {
  return await countRows(db, "session_ends") + await countRows(db, "dead_letters");
}

/** The consumer's pending and ack-pending counts. */
export async function consumerState(
  t: TestNats,
  durable = "api-session-audit-consumer",
): Promise<{ pending: number; ackPending: number; redelivered: number; delivered: number }> {
  const info = await t.jsm.consumers.info("DEVICE_EVENTS", durable);
  return {
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    redelivered: info.num_redelivered,
    delivered: info.delivered.consumer_seq,
  };
}

/** Everything one integration test needs, torn down by `close()`. */
export interface World {
  nats: NatsServer;
  t: TestNats;
  dir: string;
  dbPath: string;
  db: Client;
  close(): Promise<void>;
}

/** Runs `body` in a fresh {@linkcode World} and tears it down whatever happens. */
export async function withWorld(
  body: (world: World) => Promise<void>,
  options: { stream?: boolean } = {},
): Promise<void> {
  const world = await startWorld(options);
  try {
    await body(world);
  } finally {
    await world.close();
  }
}

/** Starts nats-server, connects the test, optionally creates the stream. */
export async function startWorld(options: { stream?: boolean } = {}): Promise<World> {
  const nats = await startNatsServer();
  const t = await connectTest(nats);
  if (options.stream ?? true) await createStream(t);
  const dir = await Deno.makeTempDir({ prefix: "session-audit-test-" });
  const dbPath = `${dir}/data/audit.db`;
  let db: Client | undefined;
  return {
    nats,
    t,
    dir,
    dbPath,
    get db() {
      db ??= openDb(dbPath);
      return db;
    },
    async close() {
      db?.close();
      await t.close().catch(() => {});
      await nats.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(nats.dir, { recursive: true }).catch(() => {});
    },
  };
}

/** A backlog the service cannot store yet, from {@linkcode stallBacklog}. */
export interface StalledBacklog {
  /** How many session ends were published. */
  readonly count: number;
  /** Releases the write lock (idempotent). */
  release(): Promise<void>;
  /** Releases the write lock and waits until the whole backlog is stored. */
  drain(): Promise<void>;
}

/**
 * Publishes `count` session ends while another connection holds the write
 * lock of the world's database (which has no session end yet): a backlog
 * that the service receives but cannot store until released.
 */
export async function stallBacklog(world: World, count: number): Promise<StalledBacklog> {
  const lock = await holdWriteLock(world.dbPath);
  await publishAll(world.t.js, Array.from({ length: count }, () => ({ payload: sessionEnd() })));
  return {
    count,
    release: () => lock.release(),
    async drain() {
      await lock.release();
      await waitFor(
        "the backlog stored",
        async () => await countRows(world.db, "session_ends") === count,
        60_000,
        200,
      );
    },
  };
}

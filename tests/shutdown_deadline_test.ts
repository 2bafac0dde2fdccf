/**
 * The shutdown deadline against the real process: a client that reads an
 * export slowly (a raw TCP client, as a stalled download looks to the
 * server) neither keeps the process past SHUTDOWN_DEADLINE_SECONDS nor
 * receives an export that looks complete; the process exits 0.
 */
import { equal, ok } from "node:assert/strict";
import { mintToken } from "../src/api/token.ts";
import { bulkInsert } from "./api_live_fixture.ts";
import {
  consumerState,
  countRows,
  publishAll,
  sessionEnd,
  settles,
  startService,
  startWorld,
  TEST_JWT_SECRET,
  waitFor,
} from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const TENANT = "11111111-1111-4111-8111-111111111111";
const DEADLINE_SECONDS = 4;
const EXPORTED_ROWS = 60_000;

/** A client that sends one request and then reads a kilobyte every 100 ms, until told to hurry. */
class SlowClient {
  readonly #conn: Deno.TcpConn;
  #slow = true;
  readonly received: Uint8Array[] = [];
  /** Resolves when the server closes the connection (or resets it). */
  readonly ended: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.ended = this.#readSlowly();
  }

  static async get(port: number, path: string, token: string): Promise<SlowClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    ));
    return new SlowClient(conn);
  }

  /** Reads what is left (what the kernel buffered) at full speed. */
  hurry(): Promise<void> {
    this.#slow = false;
    return this.ended;
  }

  get text(): string {
    return new TextDecoder().decode(
      this.received.reduce((all, chunk) => {
        const joined = new Uint8Array(all.length + chunk.length);
        joined.set(all);
        joined.set(chunk, all.length);
        return joined;
      }, new Uint8Array()),
    );
  }

  async #readSlowly(): Promise<void> {
    const buffer = new Uint8Array(1024);
    try {
      for (;;) {
        const n = await this.#conn.read(buffer);
        if (n === null) return;
        this.received.push(buffer.slice(0, n));
        if (this.#slow) await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } catch {
      // reset by the server: the transfer was cut
    } finally {
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }
  }
}

function logTime(logs: string[], msg: string): number {
  const line = logs.find((l) => l.includes(`"msg":"${msg}"`));
  ok(line, `a "${msg}" log line:\n${logs.join("\n")}`);
  return Date.parse((JSON.parse(line) as { time: string }).time);
}

Deno.test(
  "SIGTERM with a slow export client connected: exit 0 within the deadline, the export visibly cut",
  opts,
  async () => {
    const world = await startWorld();
    const service = await startService({
      natsUrl: world.nats.wsUrl,
      databasePath: world.dbPath,
      env: { SHUTDOWN_DEADLINE_SECONDS: String(DEADLINE_SECONDS) },
    });
    let client: SlowClient | undefined;
    try {
      // Ingest is running and has settled what it was given.
      const events = Array.from(
        { length: 50 },
        () => ({ payload: sessionEnd({ tenant_id: TENANT }) }),
      );
      await publishAll(world.t.js, events);
      await waitFor("50 rows", async () => await countRows(world.db, "session_ends") === 50);
      await waitFor(
        "every message acked",
        async () => (await consumerState(world.t)).ackPending === 0,
      );
      // An export far larger than what socket buffers hold (about 20 MB of CSV).
      await bulkInsert(world.db, TENANT, EXPORTED_ROWS, Date.UTC(2026, 0, 1));

      const token = await mintToken({ secret: TEST_JWT_SECRET, tenantId: TENANT });
      client = await SlowClient.get(service.port, "/v1/session-ends/export?format=csv", token);
      await waitFor(
        "the export's first bytes",
        () => client!.text.includes("session_id,tenant_id"),
      );

      const status = await settles(
        "the exit after SIGTERM",
        service.stop("SIGTERM"),
        (DEADLINE_SECONDS + 10) * 1000,
      );
      equal(status.code, 0, service.logs.slice(-20).join("\n"));
      // Measured by the process's own log: from the signal to the last line.
      const tookMs = logTime(service.logs, "stopped") - logTime(service.logs, "shutting down");
      ok(tookMs <= DEADLINE_SECONDS * 1000 + 500, `stopped ${tookMs} ms after SIGTERM`);

      // What the process wrote before it stopped may still sit in socket buffers: take it all.
      await settles("the end of the slow client's connection", client.hurry());
      const text = client.text;
      ok(text.startsWith("HTTP/1.1 200"), text.slice(0, 200));
      ok(/transfer-encoding: chunked/i.test(text), "a chunked transfer");
      ok(
        !text.endsWith("\r\n0\r\n\r\n"),
        "no terminating chunk: the transfer is visibly incomplete",
      );
      const lines = text.split("\r\n").length;
      ok(lines < EXPORTED_ROWS, `the client got ${lines} of ${EXPORTED_ROWS} rows`);
    } finally {
      await service.stop("SIGKILL");
      await client?.hurry();
      await world.close();
    }
  },
);

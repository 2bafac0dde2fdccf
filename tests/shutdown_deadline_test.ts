/**
 * The shutdown deadline against the real process, with an export client (a
 * raw TCP client, to see the transfer as sent): a download still running at
 * the cut-off is cut there, so the server closes before the deadline; a
 * client that stopped reading holds its connection until the deadline and no
 * longer. Either way the export never looks complete and the process exits 0.
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
/** The cut-off comes 2 s before the deadline (src/shutdown.ts: a quarter of 8 s). */
const DEADLINE_SECONDS = 8;
const EXPORTED_ROWS = 60_000;

/** How an {@linkcode ExportClient} reads. */
interface Pace {
  /** Bytes per read. */
  bytes: number;
  /** Pause after each read, ms. */
  pauseMs: number;
}

/** A client that has all but stopped reading: a kilobyte every 100 ms. */
const STALLED: Pace = { bytes: 1024, pauseMs: 100 };
/**
 * A download at about 1.6 MB/s: the 20 MB export outlasts the cut-off, and
 * the server can write a little at a time, so it sees the cut at once.
 */
const STEADY: Pace = { bytes: 16 * 1024, pauseMs: 10 };

/** A client that sends one request and then reads at its pace, until told to hurry. */
class ExportClient {
  readonly #conn: Deno.TcpConn;
  readonly #pace: Pace;
  #slow = true;
  readonly received: Uint8Array[] = [];
  /** Resolves when the server closes the connection (or resets it). */
  readonly ended: Promise<void>;

  private constructor(conn: Deno.TcpConn, pace: Pace) {
    this.#conn = conn;
    this.#pace = pace;
    this.ended = this.#readSlowly();
  }

  static async get(port: number, path: string, token: string, pace: Pace): Promise<ExportClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    ));
    return new ExportClient(conn, pace);
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
    const buffer = new Uint8Array(this.#pace.bytes);
    try {
      for (;;) {
        const n = await this.#conn.read(buffer);
        if (n === null) return;
        this.received.push(buffer.slice(0, n));
        if (this.#slow) await new Promise((resolve) => setTimeout(resolve, this.#pace.pauseMs));
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

/** What the process logs when the deadline came with a response still open. */
const RESPONSE_CUT_AT_DEADLINE = "shutdown deadline reached: open HTTP responses are cut";

/** Runs an export read at `pace`, sends SIGTERM, and returns the client and the service's logs. */
async function exportThroughShutdown(pace: Pace): Promise<{ text: string; logs: string[] }> {
  const world = await startWorld();
  const service = await startService({
    natsUrl: world.nats.wsUrl,
    databasePath: world.dbPath,
    env: { SHUTDOWN_DEADLINE_SECONDS: String(DEADLINE_SECONDS) },
  });
  let client: ExportClient | undefined;
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
    client = await ExportClient.get(
      service.port,
      "/v1/session-ends/export?format=csv",
      token,
      pace,
    );
    await waitFor(
      "the export's first bytes",
      () => client!.text.includes("session_id,tenant_id"),
    );

    // A guard against a process that outlives its deadline by far, not a speed check.
    const status = await settles(
      "the exit after SIGTERM",
      service.stop("SIGTERM"),
      (DEADLINE_SECONDS + 10) * 1000,
    );
    equal(status.code, 0, service.logs.slice(-20).join("\n"));
    ok(service.logs.some((l) => l.includes('"msg":"stopped"')), "the process stopped in order");

    // What the process wrote before it stopped may still sit in socket buffers: take it all.
    await settles("the end of the client's connection", client.hurry());
    const text = client.text;
    ok(text.startsWith("HTTP/1.1 200"), text.slice(0, 200));
    ok(/transfer-encoding: chunked/i.test(text), "a chunked transfer");
    ok(
      !text.endsWith("\r\n0\r\n\r\n"),
      "no terminating chunk: the transfer is visibly incomplete",
    );
    const lines = text.split("\r\n").length;
    ok(lines < EXPORTED_ROWS, `the client got ${lines} of ${EXPORTED_ROWS} rows`);
    return { text, logs: service.logs };
  } finally {
    await service.stop("SIGKILL");
    await client?.hurry();
    await world.close();
  }
}

Deno.test(
  "SIGTERM during a steady export download: the cut-off ends it, the server closes before the deadline, exit 0",
  opts,
  async () => {
    const { logs } = await exportThroughShutdown(STEADY);
    ok(
      !logs.some((l) => l.includes(RESPONSE_CUT_AT_DEADLINE)),
      `the export outlived the cut-off:\n${logs.slice(-10).join("\n")}`,
    );
  },
);

Deno.test(
  "SIGTERM with a client that stopped reading an export: held until the deadline, no longer, exit 0",
  opts,
  async () => {
    const { logs } = await exportThroughShutdown(STALLED);
    // Deno writes nothing more to a full socket, so not even the cut-off reaches this response.
    ok(logs.some((l) => l.includes(RESPONSE_CUT_AT_DEADLINE)), logs.slice(-10).join("\n"));
  },
);

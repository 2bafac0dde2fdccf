/**
 * Fixtures of the tests of the routes beyond the list: an app wired with a
 * stored-rows signal and a shutdown signal (as main.ts does), a bulk loader
 * of many rows in one SQL statement, and a reader of server-sent events.
 *
 * @module
 */
import type { Hono } from "hono";
import type { Clock, Timers } from "../src/clock.ts";
import type { Activity } from "../src/api/activity.ts";
import type { Admission } from "../src/api/admission.ts";
import { createApp } from "../src/api/app.ts";
import type { CheckpointCopy } from "../src/integrity/verify.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { Metrics } from "../src/metrics.ts";
import { Readiness } from "../src/readiness.ts";
import type { Database } from "../src/store/client.ts";
import { StoredSignal } from "../src/store/stored_signal.ts";
import { SECRET } from "./api_fixture.ts";

/** An app with the live-feed plumbing of main.ts. */
export interface LiveApp {
  app: Hono;
  stored: StoredSignal;
  shutdown: AbortController;
  metrics: Metrics;
  /** The app's log lines at `warn` and above. */
  logs: string[];
}

/** Options of {@linkcode makeLiveApp}. */
export interface LiveAppOptions {
  /** Give the app no stored-rows signal (a `ROLE=api` replica: it can only poll). */
  withoutSignal?: boolean;
  pollMs?: number;
  heartbeatMs?: number;
  env?: Record<string, string>;
  /** The time of query budgets and live feeds. */
  timers?: Timers;
  /** The wall clock of dead-letter replays. */
  clock?: Clock;
  /** Cuts long responses, as the shutdown deadline does. */
  cutoff?: AbortSignal;
  /** The checkpoints' independent copy that `/v1/integrity` compares. */
  checkpointCopy?: CheckpointCopy;
  /** Makes the record of who is using the read API (watched by the test). */
  activity?: (requests: Admission) => Activity;
}

/** Builds the app over `db` with a {@linkcode StoredSignal} and a shutdown controller. */
export function makeLiveApp(db: Database, options: LiveAppOptions = {}): LiveApp {
  const stored = new StoredSignal(options.timers);
  const shutdown = new AbortController();
  const metrics = new Metrics();
  const logs: string[] = [];
  const app = createApp({
    config: loadConfig({ API_JWT_SECRET: SECRET, ...options.env }),
    db,
    readiness: new Readiness(),
    metrics,
    logger: createLogger("warn", (line) => logs.push(line)),
    stored: options.withoutSignal ? undefined : stored,
    shutdown: shutdown.signal,
    feed: { pollMs: options.pollMs, heartbeatMs: options.heartbeatMs },
    timers: options.timers,
    clock: options.clock,
    cutoff: options.cutoff,
    checkpointCopy: options.checkpointCopy,
    activity: options.activity,
  });
  return { app, stored, shutdown, metrics, logs };
}

/**
 * Inserts `count` rows for `tenantId` with one SQL statement (no hash chain:
 * rows written outside the ingest path): session ids `<prefix>-0000-4000-8000-<n>`,
 * end times one second apart from `base`, 60 s durations.
 */
export async function bulkInsert(
  db: Pick<Database, "execute">,
  tenantId: string,
  count: number,
  base: number,
  prefix = "0b0b0b0b",
): Promise<void> {
  await db.execute({
    sql: `INSERT INTO session_ends (session_id, tenant_id, device_id, user_id, start_time,
            end_time, duration_seconds, source_ip, reason, sort_time, stream_seq, recorded_at)
          WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
          SELECT ? || printf('-0000-4000-8000-%012x', i), ?, 'd0000000-0000-4000-8000-000000000001',
            'e0000000-0000-4000-8000-000000000001', ? + i * 1000 - 60000, ? + i * 1000, 60,
            '203.0.113.' || (i % 250), 'normal', ? + i * 1000, i, ?
          FROM n`,
    args: [count, prefix, tenantId, base, base, base, base],
  });
}

/**
 * How long a read waits before failing the test: a guard against a hang
 * (an event that never comes), not a speed check.
 */
export const HANG_GUARD_MS = 20_000;

/** One server-sent event, or a comment. */
export interface SseEvent {
  id?: string;
  data?: string;
  retry?: string;
  comment?: string;
}

/** Reads server-sent events from a response body. */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  /** True once the server ended the stream. */
  ended = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /** The next event (comments included), or undefined when the stream ended. */
  async next(): Promise<SseEvent | undefined> {
    while (true) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const event: SseEvent = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) event.comment = line.slice(1).trim();
          else {
            const colon = line.indexOf(":");
            const field = line.slice(0, colon) as "id" | "data" | "retry";
            event[field] = line.slice(colon + 1).replace(/^ /, "");
          }
        }
        return event;
      }
      if (this.ended) return undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no event within ${HANG_GUARD_MS} ms: the stream hangs`)),
          HANG_GUARD_MS,
        );
      });
      try {
        this.#pending ??= this.#reader.read();
        const { done, value } = await Promise.race([this.#pending, timeout]);
        this.#pending = undefined;
        if (done) this.ended = true;
        else this.#buffer += this.#decoder.decode(value, { stream: true });
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** The next `n` data events (skipping comments and retry). */
  async data(n: number): Promise<{ id: string; data: string }[]> {
    const events: { id: string; data: string }[] = [];
    while (events.length < n) {
      const event = await this.next();
      if (event === undefined) throw new Error(`stream ended after ${events.length} events`);
      if (event.data !== undefined && event.id !== undefined) {
        events.push({ id: event.id, data: event.data });
      }
    }
    return events;
  }

  /** Disconnects, as a client closing the connection. */
  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

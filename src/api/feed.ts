/**
 * `GET /v1/session-ends/feed`: every row in storage order, for incremental
 * sync. A JSON page always carries a `next` token (the last id seen, signed
 * and bound to the tenant), also when empty, so a poller resumes without gap
 * or repeat (why ids make that exact: `store/feed.ts`). With
 * `Accept: text/event-stream` the same feed is a live tail: it replays from
 * `Last-Event-ID` (or `after`), then pushes rows as they are stored, woken by
 * the ingest loop's {@linkcode StoredSignal} and polling the database
 * meanwhile (so a `ROLE=api` replica, which has no ingest loop, follows too),
 * with a comment line as heartbeat, and ends when the process shuts down.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { Database } from "../store/client.ts";
import { feedSql } from "../store/feed.ts";
import { type SessionEndItem, toItem } from "../store/queries.ts";
import { StoredSignal } from "../store/stored_signal.ts";
import type { AuthEnv } from "./auth.ts";
import { invalidParameter } from "./errors.ts";
import type { Activity } from "./activity.ts";
import { partyOf } from "./fair_share.ts";
import type { PositionTokenCodec } from "./position_token.ts";
import { parseFeedQuery } from "./query.ts";
import { PRIVATE, searchParams, tenantFor, valid } from "./request.ts";
import type { FairTurns } from "../fair_turns.ts";
import { type Clock, systemTimers, type Timers } from "../clock.ts";

/** How often a live feed looks for new rows when nothing wakes it, ms. */
export const FEED_POLL_MS = 500;
/** Longest silence on a live feed before a heartbeat comment, ms. */
export const FEED_HEARTBEAT_MS = 15_000;
/** The reconnection delay a client's EventSource is told to use, ms. */
const SSE_RETRY_MS = 2_000;
/** Rows per query while a live feed replays. */
const SSE_CHUNK = 100;

/** A JSON feed page. */
export interface FeedPage {
  items: SessionEndItem[];
  /** Pass back as `after` (or `Last-Event-ID`) to continue after the last item. */
  next: string;
}

/** Options of {@linkcode feedRoutes}. */
export interface FeedRoutesOptions {
  db: Database;
  /** Signs and checks feed tokens. */
  tokens: PositionTokenCodec;
  /** Wakes live feeds when the ingest loop commits rows; without it they only poll. */
  stored?: StoredSignal;
  /** Ends every live feed when aborted (process shutdown). */
  shutdown?: AbortSignal;
  /**
   * Poll interval of a live feed, ms.
   * @default {500}
   */
  pollMs?: number;
  /**
   * Heartbeat interval of a live feed, ms.
   * @default {15000}
   */
  heartbeatMs?: number;
  /**
   * The clock of the heartbeat and the timers of the poll (a feed without
   * `stored` waits on a signal of its own with them).
   * @default systemTimers
   */
  timers?: Timers;
  /** Turns for encoding a live feed's batches, shared by the read API's bulk work. */
  turns?: FairTurns;
  /** Who else is active: the turns pause only then. */
  activity?: Activity;
  /**
   * Told when a live feed ends because the database failed (the client
   * reconnects with `Last-Event-ID` and loses nothing).
   * @default {() => {}}
   */
  onError?: (err: unknown) => void;
}

/** Whether a request asks for the live feed (server-sent events) rather than a JSON page. */
export function wantsLiveFeed(c: Context): boolean {
  return /\btext\/event-stream\b/i.test(c.req.header("Accept") ?? "");
}

/** What a feed token is bound to: the feed, and the tenant it reads (or every tenant). */
export function feedBinding(tenantId: string | undefined): string {
  return JSON.stringify(["feed", tenantId ?? "*"]);
}

interface LiveFeed {
  db: Database;
  tokens: PositionTokenCodec;
  tenantId: string | undefined;
  afterId: number;
  /** Wakes the feed when rows are stored (a signal nobody notifies: it only polls). */
  stored: StoredSignal;
  shutdown?: AbortSignal;
  pollMs: number;
  heartbeatMs: number;
  /** Measures the silence before a heartbeat. */
  clock: Clock;
  /** Runs one batch's encoding in a turn shared with the read API's other bulk work. */
  turn<T>(step: () => Promise<T>): Promise<T>;
}

/**
 * Writes a live feed until the client leaves or the process shuts down:
 * the rows after `afterId`, then each row as it is stored, and a heartbeat
 * after `heartbeatMs` of silence. Each write waits for the client to take
 * the previous one, so a slow client holds back the reads.
 */
async function writeLiveFeed(stream: SSEStreamingApi, feed: LiveFeed): Promise<void> {
  const stop = new AbortController();
  const end = () => stop.abort();
  stream.onAbort(end); // the client went away
  feed.shutdown?.addEventListener("abort", end, { once: true });
  try {
    if (feed.shutdown?.aborted) return;
    const binding = feedBinding(feed.tenantId);
    // `retry` and comments are written as they are: `writeSSE` always adds a
    // data line, which would deliver an empty message to the client.
    await stream.write(`retry: ${SSE_RETRY_MS}\n\n`);
    let lastId = feed.afterId;
    let lastSent = feed.clock.now();
    while (!stop.signal.aborted) {
      // Rows announced from here on are waited for no longer: the read may have missed them.
      const seen = feed.stored.count;
      // Read and encoded in a turn (src/fair_turns.ts), written outside it: a slow client
      // holds no turn.
      const { rs, events } = await feed.turn(async () => {
        const rs = await feed.db.execute(
          feedSql({ tenantId: feed.tenantId, afterId: lastId, limit: SSE_CHUNK }),
        );
        const events = rs.rows.map((row) => ({
          id: feed.tokens.encode(Number(row.id), binding),
          data: JSON.stringify(toItem(row)),
        }));
        return { rs, events };
      });
      // One write per batch (`data` is one line of JSON: no line breaks to split).
      if (events.length > 0) {
        await stream.write(events.map(({ id, data }) => `data: ${data}\nid: ${id}\n\n`).join(""));
      }
      if (rs.rows.length > 0) lastId = Number(rs.rows[rs.rows.length - 1].id);
      const silentFor = feed.clock.now() - lastSent;
      if (rs.rows.length > 0) {
        lastSent = feed.clock.now();
      } else if (silentFor >= feed.heartbeatMs) {
        await stream.write(": heartbeat\n\n");
        lastSent = feed.clock.now();
      } else {
        const wait = Math.min(feed.pollMs, feed.heartbeatMs - silentFor);
        await feed.stored.wait(wait, stop.signal, seen);
      }
    }
  } finally {
    feed.shutdown?.removeEventListener("abort", end);
  }
}

/** `GET /feed`, relative to where it is mounted. */
export function feedRoutes(options: FeedRoutesOptions): Hono<AuthEnv> {
  const { db, tokens } = options;
  const app = new Hono<AuthEnv>();
  app.get("/feed", async (c) => {
    const query = valid(parseFeedQuery(searchParams(c)));
    const tenantId = tenantFor(c.get("auth"), query.tenantId);
    const binding = feedBinding(tenantId);
    const live = wantsLiveFeed(c);
    const lastEventId = live ? c.req.header("Last-Event-ID") : undefined;
    // An EventSource reconnects to the same URL with Last-Event-ID: that position wins.
    const [param, token] = lastEventId ? ["Last-Event-ID", lastEventId] : ["after", query.after];
    let afterId = 0;
    if (token !== undefined) {
      const decoded = tokens.decode(token, binding);
      if (decoded === undefined) {
        throw invalidParameter(
          param,
          `${param} is not a feed token for this feed: pass back a next token (or event id) unchanged`,
        );
      }
      afterId = decoded;
    }
    if (live) {
      const feed: LiveFeed = {
        db,
        tokens,
        tenantId,
        afterId,
        stored: options.stored ?? new StoredSignal(options.timers),
        shutdown: options.shutdown,
        pollMs: options.pollMs ?? FEED_POLL_MS,
        heartbeatMs: options.heartbeatMs ?? FEED_HEARTBEAT_MS,
        clock: options.timers ?? systemTimers,
        turn: (step) =>
          options.turns
            ? options.turns.run(partyOf(c.get("auth"), options.activity), step)
            : step(),
      };
      const res = streamSSE(c, async (stream) => {
        try {
          await writeLiveFeed(stream, feed);
        } catch (err) {
          // the database failed: the stream ends, the client reconnects with Last-Event-ID
          options.onError?.(err);
        }
      });
      res.headers.set("Content-Type", "text/event-stream; charset=utf-8");
      res.headers.set("Cache-Control", PRIVATE["Cache-Control"]);
      res.headers.set("X-Accel-Buffering", "no");
      return res;
    }
    const rs = await db.execute(feedSql({ tenantId, afterId, limit: query.limit }));
    const lastId = rs.rows.length > 0 ? Number(rs.rows[rs.rows.length - 1].id) : afterId;
    const page: FeedPage = {
      items: rs.rows.map(toItem),
      next: tokens.encode(lastId, binding),
    };
    return c.json(page, 200, PRIVATE);
  });
  return app;
}

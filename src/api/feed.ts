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
import { Hono } from "hono";
import { sleep } from "../backoff.ts";
import type { Database } from "../store/client.ts";
import { feedSql } from "../store/feed.ts";
import { type SessionEndItem, toItem } from "../store/queries.ts";
import type { StoredSignal } from "../store/stored_signal.ts";
import type { AuthEnv } from "./auth.ts";
import { invalidParameter } from "./errors.ts";
import type { PositionTokenCodec } from "./position_token.ts";
import { parseFeedQuery } from "./query.ts";
import { PRIVATE, searchParams, tenantFor, valid } from "./request.ts";

/** How often a live feed looks for new rows when nothing wakes it, ms. */
export const FEED_POLL_MS = 500;
/** Longest silence on a live feed before a heartbeat comment, ms. */
export const FEED_HEARTBEAT_MS = 15_000;
/** Rows per query while a live feed replays. */
const SSE_CHUNK = 500;

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
  stored?: StoredSignal;
  shutdown?: AbortSignal;
  pollMs: number;
  heartbeatMs: number;
}

/** The text/event-stream body of a live feed. */
function liveFeedStream(feed: LiveFeed): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const binding = feedBinding(feed.tenantId);
  const stop = new AbortController();
  let lastId = feed.afterId;
  let lastSent = Date.now();
  let closed = false;
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;

  const finish = () => {
    stop.abort();
    feed.shutdown?.removeEventListener("abort", finish);
    if (closed) return;
    closed = true;
    try {
      controllerRef?.close();
    } catch {
      // already closed or errored
    }
  };

  const nextEvents = async (): Promise<string | undefined> => {
    while (!stop.signal.aborted) {
      const rs = await feed.db.execute(
        feedSql({ tenantId: feed.tenantId, afterId: lastId, limit: SSE_CHUNK }),
      );
      if (rs.rows.length > 0) {
        let text = "";
        for (const row of rs.rows) {
          lastId = Number(row.id);
          const id = await feed.tokens.encode(lastId, binding);
          text += `id: ${id}\ndata: ${JSON.stringify(toItem(row))}\n\n`;
        }
        return text;
      }
      const silentFor = Date.now() - lastSent;
      if (silentFor >= feed.heartbeatMs) return ": heartbeat\n\n";
      const wait = Math.min(feed.pollMs, feed.heartbeatMs - silentFor);
      if (feed.stored) await feed.stored.wait(wait, stop.signal);
      else await sleep(wait, stop.signal);
    }
    return undefined;
  };

  return new ReadableStream<Uint8Array>({
    start(controller) {
      controllerRef = controller;
      if (feed.shutdown?.aborted) return finish();
      feed.shutdown?.addEventListener("abort", finish, { once: true });
      // the reconnection delay a client's EventSource should use
      controller.enqueue(encoder.encode("retry: 2000\n\n"));
    },
    async pull(controller) {
      let text: string | undefined;
      try {
        text = await nextEvents();
      } catch (err) {
        // the database failed: end the stream; the client reconnects with Last-Event-ID
        closed = true;
        finish();
        controller.error(err);
        return;
      }
      if (text === undefined || closed) return finish();
      controller.enqueue(encoder.encode(text));
      lastSent = Date.now();
    },
    cancel() {
      closed = true;
      finish();
    },
  }, { highWaterMark: 1 });
}

/** `GET /feed`, relative to where it is mounted. */
export function feedRoutes(options: FeedRoutesOptions): Hono<AuthEnv> {
  const { db, tokens } = options;
  const app = new Hono<AuthEnv>();
  app.get("/feed", async (c) => {
    const query = valid(parseFeedQuery(searchParams(c)));
    const tenantId = tenantFor(c.get("auth"), query.tenantId);
    const binding = feedBinding(tenantId);
    const live = /\btext\/event-stream\b/i.test(c.req.header("Accept") ?? "");
    const lastEventId = live ? c.req.header("Last-Event-ID") : undefined;
    // An EventSource reconnects to the same URL with Last-Event-ID: that position wins.
    const [param, token] = lastEventId ? ["Last-Event-ID", lastEventId] : ["after", query.after];
    let afterId = 0;
    if (token !== undefined) {
      const decoded = await tokens.decode(token, binding);
      if (decoded === undefined) {
        throw invalidParameter(
          param,
          `${param} is not a feed token for this feed: pass back a next token (or event id) unchanged`,
        );
      }
      afterId = decoded;
    }
    if (live) {
      const body = liveFeedStream({
        db,
        tokens,
        tenantId,
        afterId,
        stored: options.stored,
        shutdown: options.shutdown,
        pollMs: options.pollMs ?? FEED_POLL_MS,
        heartbeatMs: options.heartbeatMs ?? FEED_HEARTBEAT_MS,
      });
      return c.body(body, 200, {
        "Content-Type": "text/event-stream; charset=utf-8",
        ...PRIVATE,
        "X-Accel-Buffering": "no",
      });
    }
    const rs = await db.execute(feedSql({ tenantId, afterId, limit: query.limit }));
    const lastId = rs.rows.length > 0 ? Number(rs.rows[rs.rows.length - 1].id) : afterId;
    const page: FeedPage = {
      items: rs.rows.map(toItem),
      next: await tokens.encode(lastId, binding),
    };
    return c.json(page, 200, PRIVATE);
  });
  return app;
}

import { deepStrictEqual, ok } from "node:assert/strict";
import * as v from "valibot";
import {
  adminToken,
  BASE_TIME,
  type ErrorBodyJson,
  generateRows,
  get,
  insertRows,
  openTestDb,
  SECRET,
  TENANT_A,
  TENANT_B,
  tenantToken,
} from "./api_fixture.ts";
import { bulkInsert, makeLiveApp, SseReader } from "./api_live_fixture.ts";
import { waitFor } from "./harness.ts";
import { FakeTimers } from "../src/testing/fake_timers.ts";
import type { AuthEnv } from "../src/api/auth.ts";
import { feedRoutes } from "../src/api/feed.ts";
import { PositionTokenCodec } from "../src/api/position_token.ts";
import { FeedPageSchema } from "../src/api/schemas.ts";
import { Database } from "../src/store/client.ts";
import { Hono } from "hono";

interface FeedPage {
  items: { session_id: string }[];
  next: string;
}

async function feedPage(app: Hono, token: string, query: string): Promise<FeedPage> {
  const res = await get(app, `/v1/session-ends/feed?${query}`, token);
  if (res.status !== 200) throw new Error(`${query}: ${res.status} ${await res.text()}`);
  return v.parse(FeedPageSchema, await res.json());
}

/** Polls the feed from `after` until a page comes back empty; returns ids and the last token. */
async function drain(app: Hono, token: string, after: string | undefined, limit: number) {
  const ids: string[] = [];
  let next = after;
  while (true) {
    const page = await feedPage(
      app,
      token,
      `limit=${limit}${next === undefined ? "" : `&after=${encodeURIComponent(next)}`}`,
    );
    ids.push(...page.items.map((i) => i.session_id));
    ok(page.next, "every page carries a next token");
    if (page.items.length === 0) {
      // an empty page hands back a token at the same position
      return { ids, next: page.next };
    }
    next = page.next;
  }
}

Deno.test("feed: storage order, resumable across pages and a restart, late rows after the token", async (t) => {
  const store = await openTestDb();
  try {
    const first = generateRows(TENANT_A, 120, 81, 0xa8);
    const foreign = generateRows(TENANT_B, 30, 82, 0xb8);
    await insertRows(store.db, first.slice(0, 60));
    await insertRows(store.db, foreign);
    await insertRows(store.db, first.slice(60));
    const { app } = makeLiveApp(store.db);
    const token = await tenantToken(TENANT_A);
    let resumeAt = "";

    await t.step("an empty feed still answers a next token", async () => {
      const empty = await openTestDb();
      try {
        const page = await feedPage(makeLiveApp(empty.db).app, token, "");
        deepStrictEqual(page.items, []);
        ok(page.next.length > 0);
      } finally {
        await empty.close();
      }
    });

    await t.step("pages of 7 yield the tenant's rows in storage order, each once", async () => {
      const { ids, next } = await drain(app, token, undefined, 7);
      deepStrictEqual(ids, first.map((r) => r.sessionId));
      resumeAt = next;
    });

    await t.step("after a restart, late rows (old end_time) come after the token", async () => {
      // a new process over the same file
      const db2 = await Database.open({ databaseUrl: store.url });
      try {
        const late = generateRows(TENANT_A, 15, 83, 0xa9).map((r) => ({
          ...r,
          endTime: BASE_TIME - 30 * 86_400_000,
          startTime: BASE_TIME - 30 * 86_400_000 - 60_000,
        }));
        await insertRows(db2, late);
        const { app: app2 } = makeLiveApp(db2);
        const { ids } = await drain(app2, token, resumeAt, 4);
        deepStrictEqual(ids, late.map((r) => r.sessionId));
      } finally {
        db2.close();
      }
    });

    await t.step(
      "an admin's feed covers every tenant; narrowed, it is bound to that tenant",
      async () => {
        const admin = await adminToken();
        const { ids } = await drain(app, admin, undefined, 50);
        deepStrictEqual(ids.length, 120 + 30 + 15);
        const onlyB = await feedPage(app, admin, `tenant_id=${TENANT_B}&limit=1000`);
        deepStrictEqual(onlyB.items.map((i) => i.session_id), foreign.map((r) => r.sessionId));
        // the admin's tenant-B token is not valid for the all-tenants feed, nor for tenant A
        const res = await get(
          app,
          `/v1/session-ends/feed?after=${encodeURIComponent(onlyB.next)}`,
          admin,
        );
        deepStrictEqual(res.status, 400);
        const asA = await get(
          app,
          `/v1/session-ends/feed?after=${encodeURIComponent(onlyB.next)}`,
          token,
        );
        deepStrictEqual(asA.status, 400);
      },
    );

    await t.step("bad input: garbage or edited token, bad limit, foreign tenant", async () => {
      const page = await feedPage(app, token, "limit=1");
      const edited = page.next.slice(0, -2) + (page.next.endsWith("AA") ? "BB" : "AA");
      for (
        const [q, status, param] of [
          ["after=garbage", 400, "after"],
          [`after=${edited}`, 400, "after"],
          ["limit=0", 400, "limit"],
          ["limit=1001", 400, "limit"],
          ["cursor=x.y", 400, "cursor"],
          [`tenant_id=${TENANT_B}`, 403, "tenant_id"],
        ] as const
      ) {
        const res = await get(app, `/v1/session-ends/feed?${q}`, token);
        deepStrictEqual(res.status, status, q);
        deepStrictEqual((await res.json() as ErrorBodyJson).error.param, param, q);
      }
      deepStrictEqual((await get(app, "/v1/session-ends/feed")).status, 401);
    });
  } finally {
    await store.close();
  }
});

const SSE = { Accept: "text/event-stream" };
const HOUR = 3_600_000;

Deno.test("feed as server-sent events: replay, live push, Last-Event-ID, failure, shutdown", async (t) => {
  const store = await openTestDb();
  try {
    const rows = generateRows(TENANT_A, 40, 91, 0xaa);
    const late = generateRows(TENANT_A, 3, 93, 0xac);
    await insertRows(store.db, rows.slice(0, 25));
    // no poll and no heartbeat within the test: only the stored-rows signal can deliver new rows
    const live = makeLiveApp(store.db, { pollMs: HOUR, heartbeatMs: HOUR });
    const token = await tenantToken(TENANT_A);
    const seen: string[] = [];
    let lastId = "";

    await t.step("replays from the start, then pushes rows as they are stored", async () => {
      const res = await get(live.app, "/v1/session-ends/feed", token, SSE);
      deepStrictEqual(res.status, 200);
      deepStrictEqual(res.headers.get("Content-Type"), "text/event-stream; charset=utf-8");
      const sse = new SseReader(res.body!);
      deepStrictEqual((await sse.next())?.retry, "2000");
      const replayed = await sse.data(10);
      seen.push(...replayed.map((e) => JSON.parse(e.data).session_id));
      lastId = replayed[replayed.length - 1].id;
      // the event id is a feed token: the JSON feed continues from it
      const page = await feedPage(
        live.app,
        token,
        `after=${encodeURIComponent(lastId)}&limit=1`,
      );
      deepStrictEqual(page.items[0].session_id, rows[10].sessionId);
      await sse.cancel();
    });

    await t.step("reconnecting with Last-Event-ID resumes without loss or repeat", async () => {
      const res = await get(live.app, "/v1/session-ends/feed", token, {
        ...SSE,
        "Last-Event-ID": lastId,
      });
      const sse = new SseReader(res.body!);
      const rest = await sse.data(15);
      seen.push(...rest.map((e) => JSON.parse(e.data).session_id));
      deepStrictEqual(seen, rows.slice(0, 25).map((r) => r.sessionId));
      // live: rows stored now are pushed (woken by the signal, as the ingest loop does)
      await waitFor("the feed to wait for new rows", () => live.stored.waiting === 1);
      await insertRows(store.db, rows.slice(25));
      live.stored.notify();
      const pushed = await sse.data(15);
      seen.push(...pushed.map((e) => JSON.parse(e.data).session_id));
      deepStrictEqual(seen, rows.map((r) => r.sessionId));
      deepStrictEqual(new Set(seen).size, rows.length);
      await sse.cancel();
    });

    await t.step("Last-Event-ID wins over after; a garbage one is a 400", async () => {
      const res = await get(
        live.app,
        `/v1/session-ends/feed?after=${encodeURIComponent(lastId)}`,
        token,
        { ...SSE, "Last-Event-ID": "not.valid" },
      );
      deepStrictEqual(res.status, 400);
      deepStrictEqual((await res.json() as ErrorBodyJson).error.param, "Last-Event-ID");
    });

    await t.step(
      "a database failure ends a stream and is logged; Last-Event-ID resumes",
      async () => {
        const sse = new SseReader((await get(live.app, "/v1/session-ends/feed", token, SSE)).body!);
        const replayed = await sse.data(rows.length);
        await waitFor("the feed to wait for new rows", () => live.stored.waiting === 1);
        const execute = store.db.execute;
        store.db.execute = () => Promise.reject(new Error("disk I/O error"));
        try {
          live.stored.notify();
          deepStrictEqual(await sse.next(), undefined);
        } finally {
          store.db.execute = execute;
        }
        deepStrictEqual(
          live.logs.map((line) => JSON.parse(line)).map((r) => [r.level, r.msg, r.error]),
          [["warn", "live feed ended: the database failed", "disk I/O error"]],
        );
        await insertRows(store.db, late);
        const again = await get(live.app, "/v1/session-ends/feed", token, {
          ...SSE,
          "Last-Event-ID": replayed[replayed.length - 1].id,
        });
        const resumed = new SseReader(again.body!);
        deepStrictEqual(
          (await resumed.data(late.length)).map((e) => JSON.parse(e.data).session_id),
          late.map((r) => r.sessionId),
        );
        await resumed.cancel();
      },
    );

    await t.step("shutdown ends every open stream", async () => {
      const res = await get(live.app, "/v1/session-ends/feed", token, SSE);
      const sse = new SseReader(res.body!);
      await sse.data(rows.length + late.length);
      live.shutdown.abort();
      deepStrictEqual(await sse.next(), undefined);
      ok(sse.ended);
      deepStrictEqual(live.stored.waiting, 0);
    });
  } finally {
    await store.close();
  }
});

Deno.test("a live feed carries only its tenant's rows, stored before it opened or while it is open", async () => {
  const store = await openTestDb();
  try {
    const a = generateRows(TENANT_A, 15, 94, 0xad);
    const b = generateRows(TENANT_B, 10, 95, 0xbd);
    const ids = (rows: typeof a) => rows.map((r) => r.sessionId);
    // in storage order, tenant B's rows come before some of A's, before and after the feeds open
    await insertRows(store.db, a.slice(0, 5));
    await insertRows(store.db, b.slice(0, 5));
    await insertRows(store.db, a.slice(5, 10));
    const live = makeLiveApp(store.db, { pollMs: HOUR, heartbeatMs: HOUR });
    const feeds = [
      ["tenant A's token", "/v1/session-ends/feed", await tenantToken(TENANT_A)],
      ["an admin narrowed to A", `/v1/session-ends/feed?tenant_id=${TENANT_A}`, await adminToken()],
    ] as const;
    const readers = await Promise.all(feeds.map(async ([who, path, token]) => {
      const res = await get(live.app, path, token, SSE);
      deepStrictEqual(res.status, 200, who);
      return new SseReader(res.body!);
    }));
    const sessionIds = (events: { data: string }[]) =>
      events.map((e) =>
        v.parse(v.object({ session_id: v.string() }), JSON.parse(e.data)).session_id
      );
    for (const [i, sse] of readers.entries()) {
      deepStrictEqual(sessionIds(await sse.data(10)), ids(a.slice(0, 10)), feeds[i][0]);
    }
    await waitFor("both feeds to wait for new rows", () => live.stored.waiting === 2);
    await insertRows(store.db, b.slice(5));
    await insertRows(store.db, a.slice(10));
    live.stored.notify();
    for (const [i, sse] of readers.entries()) {
      deepStrictEqual(sessionIds(await sse.data(5)), ids(a.slice(10)), feeds[i][0]);
      await sse.cancel();
    }
  } finally {
    await store.close();
  }
});

Deno.test("feed as server-sent events without the ingest signal: polls, and sends heartbeats", async () => {
  const store = await openTestDb();
  try {
    // a ROLE=api replica: no ingest loop in the process
    const replica = makeLiveApp(store.db, { withoutSignal: true, pollMs: 50, heartbeatMs: 300 });
    const token = await tenantToken(TENANT_A);
    const res = await get(replica.app, "/v1/session-ends/feed", token, SSE);
    const sse = new SseReader(res.body!);
    await sse.next(); // retry
    const heartbeat = await sse.next();
    deepStrictEqual(heartbeat?.comment, "heartbeat");
    const rows = generateRows(TENANT_A, 3, 92, 0xab);
    await insertRows(store.db, rows);
    const events = await sse.data(3);
    deepStrictEqual(events.map((e) => JSON.parse(e.data).session_id), rows.map((r) => r.sessionId));
    await sse.cancel();
  } finally {
    await store.close();
  }
});

Deno.test("a live feed with nothing to send writes a heartbeat after heartbeatMs of silence on its clock, not before", async () => {
  const store = await openTestDb();
  try {
    const timers = new FakeTimers();
    const POLL_MS = 1_000;
    const HEARTBEAT_MS = 15_000;
    const replica = makeLiveApp(store.db, {
      withoutSignal: true,
      pollMs: POLL_MS,
      heartbeatMs: HEARTBEAT_MS,
      timers,
    });
    const res = await get(replica.app, "/v1/session-ends/feed", await tenantToken(TENANT_A), SSE);
    const sse = new SseReader(res.body!);
    await sse.next(); // retry
    let received: string | undefined;
    const next = sse.next().then((event) => received = event?.comment);
    let silentMs = 0;
    for (;;) {
      // The feed has read (nothing) and waits for its next poll, or it wrote the heartbeat.
      await waitFor("the feed waiting for its poll", () => timers.pending > 0 || received);
      if (received !== undefined) break;
      ok(silentMs < HEARTBEAT_MS, `no heartbeat after ${silentMs} ms of silence`);
      timers.advance(POLL_MS);
      silentMs += POLL_MS;
    }
    await next;
    deepStrictEqual(received, "heartbeat");
    deepStrictEqual(silentMs, HEARTBEAT_MS, "the heartbeat once the silence reached heartbeatMs");
    await sse.cancel();
  } finally {
    await store.close();
  }
});

Deno.test("a live feed reads no further ahead than its client takes", async () => {
  const store = await openTestDb();
  try {
    await bulkInsert(store.db, TENANT_A, 20_000, BASE_TIME);
    // Every asynchronous step of the feed, counted: its queries (token signatures are synchronous).
    let queries = 0;
    let running = 0;
    const counted = <T>(work: Promise<T>) => {
      running++;
      return work.finally(() => running--);
    };
    const execute = store.db.execute.bind(store.db);
    store.db.execute = (stmt) => {
      queries++;
      return counted(execute(stmt));
    };
    const tokens = new PositionTokenCodec(SECRET, "feed");
    const shutdown = new AbortController();
    const app = new Hono<AuthEnv>();
    app.use("*", async (c, next) => {
      c.set("auth", { kind: "tenant", tenantId: TENANT_A });
      await next();
    });
    app.route("/", feedRoutes({ db: store.db, tokens, shutdown: shutdown.signal }));

    const reader = (await app.request("/feed", { headers: SSE })).body!.getReader();
    await reader.read();
    await reader.read();
    // What follows a finished step runs in promise jobs, before any timer: when no step runs
    // at a timer tick, the feed is waiting for its client.
    do await new Promise((resolve) => setTimeout(resolve, 0)); while (running > 0);
    // 20,000 rows are 40 queries of 500, each written as one chunk: a client that took the
    // retry line and the first batch caused one query more, for the batch waiting to be taken.
    ok(queries <= 3, `a client that took the first batch caused ${queries} queries`);
    shutdown.abort();
    await reader.cancel();
  } finally {
    await store.close();
  }
});

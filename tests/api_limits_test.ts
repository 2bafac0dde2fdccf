/**
 * Fair sharing of the read API, as callers see it: each limit answers 429
 * with `Retry-After` and the API's error shape, counts the refusal in
 * `/metrics` by limit, and leaves every other tenant (and subject) alone; a
 * streamed answer holds its place until it ends. A heavy query over its
 * budget is interrupted and answered 503; an export cut short never looks
 * complete.
 */
import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import type { InStatement } from "@libsql/client";
import * as v from "valibot";
import type { Hono } from "hono";
import {
  adminToken,
  BASE_TIME,
  get,
  openTestDb,
  signClaims,
  TENANT_A,
  TENANT_B,
  tenantToken,
} from "./api_fixture.ts";
import { bulkInsert, makeLiveApp } from "./api_live_fixture.ts";
import { Activity } from "../src/api/activity.ts";
import { QueryStoppedBodySchema, TooManyRequestsBodySchema } from "../src/api/schemas.ts";
import { settles, waitFor } from "./harness.ts";
import { FakeTimers } from "../src/testing/fake_timers.ts";
import type { Party } from "../src/fair_turns.ts";
import type { CheckpointCopy } from "../src/integrity/verify.ts";
import type { Metrics } from "../src/metrics.ts";
import type { Database, RowSource } from "../src/store/client.ts";
import { ShuttingDown } from "../src/shutdown.ts";

const EXPORT = "/v1/session-ends/export?format=csv";
const LIST = "/v1/session-ends?limit=1";

/** Asserts a 429 as `/openapi.json` declares it (a Retry-After, the body's schema); returns its message. */
async function assertTooMany(res: Response): Promise<string> {
  equal(res.status, 429);
  const retryAfter = Number(res.headers.get("Retry-After"));
  ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After: ${retryAfter}`);
  return v.parse(TooManyRequestsBodySchema, await res.json()).error.message;
}

/** Asserts a 503 as `/openapi.json` declares it, with `code`; returns its message. */
async function assertStopped(res: Response, code: string, where = ""): Promise<string> {
  equal(res.status, 503, where);
  const body = v.parse(QueryStoppedBodySchema, await res.json());
  equal(body.error.code, code, where);
  return body.error.message;
}

function rejected(metrics: Metrics, limit: string): number {
  return metrics.get("session_audit_http_rejected_total", { limit });
}

/** An export whose body is not read: it holds its place until cancelled. */
async function openExport(app: Hono, token: string): Promise<Response> {
  const res = await get(app, EXPORT, token);
  equal(res.status, 200);
  return res;
}

async function withRows(body: (db: Database) => Promise<void>): Promise<void> {
  const store = await openTestDb();
  try {
    await bulkInsert(store.db, TENANT_A, 3_000, BASE_TIME);
    await bulkInsert(store.db, TENANT_B, 3_000, BASE_TIME, "0c0c0c0c");
    await body(store.db);
  } finally {
    await store.close();
  }
}

Deno.test("a tenant at its concurrency limit gets 429 while another tenant is served", () =>
  withRows(async (db) => {
    const { app, metrics } = makeLiveApp(db, { env: { API_MAX_CONCURRENT_PER_TENANT: "2" } });
    const [a, b] = await Promise.all([tenantToken(TENANT_A), tenantToken(TENANT_B)]);
    const held = [await openExport(app, a), await openExport(app, a)];
    equal(metrics.get("session_audit_http_requests_in_flight"), 2);
    match(await assertTooMany(await get(app, LIST, a)), /this tenant has 2 requests in progress/);
    equal(rejected(metrics, "concurrent_per_tenant"), 1);
    equal((await get(app, LIST, b)).status, 200, "another tenant is served");
    // A streamed answer gives its place back when the client lets go of it.
    await held[0].body!.cancel();
    equal((await get(app, LIST, a)).status, 200);
    // ... and when it has been read to its end.
    await held[1].text();
    equal(metrics.get("session_audit_http_requests_in_flight"), 0);
  }));

Deno.test("a token subject at its limit gets 429 while the same tenant's other subjects are served", () =>
  withRows(async (db) => {
    const { app, metrics } = makeLiveApp(db, { env: { API_MAX_CONCURRENT_PER_SUBJECT: "1" } });
    const exp = Math.floor(Date.now() / 1000) + 600;
    const alice = await signClaims({ tenant_id: TENANT_A, sub: "alice", exp });
    const bob = await signClaims({ tenant_id: TENANT_A, sub: "bob", exp });
    const held = await openExport(app, alice);
    match(await assertTooMany(await get(app, LIST, alice)), /this token's subject has 1/);
    equal(rejected(metrics, "concurrent_per_subject"), 1);
    equal((await get(app, LIST, bob)).status, 200);
    equal((await get(app, LIST, await tenantToken(TENANT_A))).status, 200, "a token without sub");
    const aliceOfB = await signClaims({ tenant_id: TENANT_B, sub: "alice", exp });
    equal((await get(app, LIST, aliceOfB)).status, 200, "the same sub in another tenant");
    await held.body!.cancel();
    equal((await get(app, LIST, alice)).status, 200, "alice's place is free again");
  }));

Deno.test("the total concurrency limit refuses everyone; administrators count as one tenant '*'", () =>
  withRows(async (db) => {
    const { app, metrics } = makeLiveApp(db, {
      env: { API_MAX_CONCURRENT: "2", API_MAX_CONCURRENT_PER_TENANT: "1" },
    });
    const [a, b, admin] = await Promise.all([
      tenantToken(TENANT_A),
      tenantToken(TENANT_B),
      adminToken(),
    ]);
    const heldByAdmin = await openExport(app, admin);
    await assertTooMany(await get(app, LIST, await adminToken()));
    equal(rejected(metrics, "concurrent_per_tenant"), 1, "a second admin token shares '*'");
    const heldByA = await openExport(app, a);
    match(await assertTooMany(await get(app, LIST, b)), /the service has 2 requests in progress/);
    equal(rejected(metrics, "concurrent"), 1);
    await heldByAdmin.body!.cancel();
    equal((await get(app, LIST, b)).status, 200);
    await heldByA.body!.cancel();
  }));

Deno.test("a tenant's bulk work yields only while someone else is active: its own exports do not count", () =>
  withRows(async (db) => {
    const timers = new FakeTimers();
    let activity!: Activity;
    const { app } = makeLiveApp(db, {
      timers,
      activity: (requests) => activity = new Activity({ clock: timers, lingerMs: 1_000, requests }),
    });
    const [a, b] = await Promise.all([tenantToken(TENANT_A), tenantToken(TENANT_B)]);
    const exports = [await openExport(app, a), await openExport(app, a)];
    const stats = await get(app, "/v1/session-ends/stats?group_by=device_id", a);
    equal(stats.status, 200);
    equal(activity.contended(TENANT_A), false, "A alone, with two exports and a stats query");
    equal(activity.contended(TENANT_B), true, "A's exports contend B's work");
    // A list, even A's own, makes A's exports yield, and for a while after it.
    equal((await get(app, LIST, a)).status, 200);
    equal(activity.contended(TENANT_A), true);
    timers.advance(1_000);
    equal(activity.contended(TENANT_A), false);
    // Another tenant's request too.
    equal((await get(app, "/v1/session-ends/stats?group_by=device_id", b)).status, 200);
    equal(activity.contended(TENANT_A), true);
    timers.advance(1_000);
    equal(activity.contended(TENANT_A), false);
    for (const res of exports) await res.body!.cancel();
    equal(activity.contended(TENANT_B), true, "the exports linger");
    timers.advance(1_000);
    equal(activity.contended(TENANT_B), false);
  }));

Deno.test("live feeds are limited per tenant and in total, apart from other requests", () =>
  withRows(async (db) => {
    const { app, metrics, shutdown } = makeLiveApp(db, {
      env: {
        API_MAX_LIVE_FEEDS_PER_TENANT: "1",
        API_MAX_LIVE_FEEDS: "2",
        API_MAX_CONCURRENT_PER_TENANT: "1",
      },
    });
    const [a, b, admin] = await Promise.all([
      tenantToken(TENANT_A),
      tenantToken(TENANT_B),
      adminToken(),
    ]);
    const sse = { Accept: "text/event-stream" };
    const feedA = await get(app, "/v1/session-ends/feed", a, sse);
    equal(feedA.status, 200);
    equal(metrics.get("session_audit_live_feeds_open"), 1);
    match(
      await assertTooMany(await get(app, "/v1/session-ends/feed", a, sse)),
      /this tenant has 1 live feeds open/,
    );
    equal(rejected(metrics, "live_feeds_per_tenant"), 1);
    // An open feed does not take one of the tenant's request places.
    equal((await get(app, "/v1/session-ends/feed?limit=1", a)).status, 200, "a JSON feed page");
    equal((await get(app, LIST, a)).status, 200);
    const feedB = await get(app, "/v1/session-ends/feed", b, sse);
    equal(feedB.status, 200);
    await assertTooMany(await get(app, "/v1/session-ends/feed", admin, sse));
    equal(rejected(metrics, "live_feeds"), 1);
    shutdown.abort();
    await Promise.all([feedA.text(), feedB.text()]);
    equal(metrics.get("session_audit_live_feeds_open"), 0);
  }));

Deno.test("the rate limit per tenant answers 429 with the seconds left in its minute", () =>
  withRows(async (db) => {
    const { app, metrics } = makeLiveApp(db, { env: { API_RATE_LIMIT_PER_TENANT: "3" } });
    const [a, b] = await Promise.all([tenantToken(TENANT_A), tenantToken(TENANT_B)]);
    for (let i = 0; i < 3; i++) equal((await get(app, LIST, a)).status, 200);
    const refused = await get(app, LIST, a);
    ok(Number(refused.headers.get("Retry-After")) <= 60);
    match(await assertTooMany(refused), /more than 3 requests this minute/);
    equal(rejected(metrics, "rate_per_tenant"), 1);
    equal((await get(app, LIST, b)).status, 200, "another tenant has its own minute");
  }));

const ENDLESS =
  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) AS n FROM n";

/**
 * Makes every heavy read an endless query (single reads and those of a
 * snapshot), so that only its budget or a cut can end it.
 */
function endlessHeavyReads(db: Database, onStart: () => void): void {
  const read = db.readInterruptible.bind(db);
  db.readInterruptible = (_stmt: InStatement, signal: AbortSignal) => {
    const running = read(ENDLESS, signal);
    onStart();
    return running;
  };
  const snapshot = db.readSnapshot.bind(db);
  db.readSnapshot = <T>(
    work: (tx: RowSource) => Promise<T>,
    signal: AbortSignal,
    party?: Party,
  ) =>
    snapshot(
      (tx) =>
        work({
          execute: (_stmt) => {
            const running = tx.execute(ENDLESS);
            onStart();
            return running;
          },
        }),
      signal,
      party,
    );
}

Deno.test("a heavy query over its budget is interrupted and answered 503, counted by /metrics", () =>
  withRows(async (db) => {
    const timers = new FakeTimers();
    const { app, metrics } = makeLiveApp(db, { timers, env: { API_QUERY_BUDGET_MS: "2000" } });
    // The budget runs out as soon as the query has started.
    endlessHeavyReads(db, () => setTimeout(() => timers.advance(2_000), 0));
    const a = await tenantToken(TENANT_A);
    for (const path of ["/v1/session-ends/stats?group_by=device_id", EXPORT, "/v1/integrity"]) {
      const res = await settles(`the answer to ${path}`, Promise.resolve(get(app, path, a)));
      match(await assertStopped(res, "query_budget_exceeded", path), /budget of 2000 ms/);
    }
    equal(rejected(metrics, "query_budget"), 3);
    equal(metrics.get("session_audit_http_requests_in_flight"), 0);
  }));

Deno.test("an integrity walk waiting on a copy that does not answer ends with its budget, or at shutdown", () =>
  withRows(async (db) => {
    const timers = new FakeTimers();
    const cutoff = new AbortController();
    const asked: string[] = [];
    // NATS reachable but silent: every read of the copy waits forever.
    const silent: CheckpointCopy = {
      read: (tenantId) => {
        asked.push(tenantId);
        return new Promise(() => {});
      },
      tenants: () => {
        asked.push("*");
        return new Promise(() => {});
      },
    };
    const { app, metrics } = makeLiveApp(db, {
      timers,
      cutoff: cutoff.signal,
      checkpointCopy: silent,
      env: { API_QUERY_BUDGET_MS: "2000" },
    });
    const a = await tenantToken(TENANT_A);
    const walk = get(app, "/v1/integrity", a);
    await waitFor("the walk to ask the copy", () => asked.length === 1);
    timers.advance(2_000);
    const res = await settles("the walk's answer", Promise.resolve(walk));
    await assertStopped(res, "query_budget_exceeded");
    equal(rejected(metrics, "query_budget"), 1);

    // Every tenant's walk asks the copy for its tenants first; shutdown's cut-off ends it.
    const all = get(app, "/v1/integrity", await adminToken());
    await waitFor("the walk to ask the copy for its tenants", () => asked.length === 2);
    cutoff.abort(new ShuttingDown());
    const cut = await settles("the cut walk's answer", Promise.resolve(all));
    await assertStopped(cut, "shutting_down");
    ok(Number(cut.headers.get("Retry-After")) >= 1, "shutting_down says when to retry");
    deepStrictEqual(asked, [TENANT_A, "*"]);
  }));

Deno.test("an export cut after its first page by a database error or by shutdown ends abruptly", () =>
  withRows(async (db) => {
    const cutoff = new AbortController();
    const { app } = makeLiveApp(db, { cutoff: cutoff.signal });
    const a = await tenantToken(TENANT_A);
    const read = db.readInterruptible.bind(db);
    let pages = 0;
    db.readInterruptible = (stmt: InStatement, signal: AbortSignal) =>
      ++pages === 2
        ? Promise.reject(new Error("SQLITE_IOERR: disk I/O error"))
        : read(stmt, signal);
    for (const format of ["csv", "ndjson"]) {
      pages = 0;
      const res = await get(app, `/v1/session-ends/export?format=${format}`, a);
      equal(res.status, 200);
      await rejects(res.text(), /SQLITE_IOERR/, `${format}: the body fails instead of ending`);
    }
    db.readInterruptible = read;
    const res = await get(app, EXPORT, a);
    const reader = res.body!.getReader();
    await reader.read();
    cutoff.abort(new ShuttingDown());
    // Nothing more reaches the client after the cut, not even what was already read ahead.
    await rejects(reader.read(), /shutting down/);
    const after = await get(app, LIST, a);
    deepStrictEqual(after.status, 200);
  }));

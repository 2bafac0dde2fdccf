import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { Hono } from "hono";
import type { AuthEnv } from "../src/api/auth.ts";
import { CursorCodec } from "../src/api/cursor.ts";
import { deadLetterRoutes } from "../src/api/dead_letters.ts";
import { PositionTokenCodec } from "../src/api/position_token.ts";
import { sessionEndRoutes } from "../src/api/session_ends.ts";
import {
  adminToken,
  type ErrorBodyJson,
  generateRows,
  get,
  insertRows,
  makeApp,
  openTestDb,
  rng,
  SECRET,
  TENANT_A,
  tenantToken,
} from "./api_fixture.ts";

const LIST = "/v1/session-ends";
const UUID = "0f0e0d0c-0b0a-4908-8706-050403020100";

/** Query strings that must be a 400 naming the parameter. */
const BAD_LIST_QUERIES: [string, string][] = [
  ["device_id=42", "device_id"],
  ["device_id=", "device_id"],
  [`device_id=${UUID}x`, "device_id"],
  ["user_id=not-a-uuid", "user_id"],
  ["tenant_id=nope", "tenant_id"],
  ["reason=" + "x".repeat(65), "reason"],
  ["reason=", "reason"],
  ["reason=a%0Ab", "reason"],
  ["reason=%00", "reason"],
  ["reason=a%C2%85b", "reason"], // U+0085, a C1 control character
  ["since=yesterday", "since"],
  ["since=2026-02-30T00:00:00Z", "since"],
  ["since=2026-13-01T00:00:00Z", "since"],
  ["since=2026-03-12", "since"],
  ["since=2026-03-12T24:00:00Z", "since"],
  ["until=2026-03-12T10:00:00", "until"],
  ["until=1710237600", "until"],
  ["since=2026-03-12T10:00:00Z&until=2026-03-12T09:00:00Z", "since"],
  ["since=2026-03-12T10:00:00Z&until=2026-03-12T10:00:00Z", "since"],
  ["limit=0", "limit"],
  ["limit=501", "limit"],
  ["limit=-1", "limit"],
  ["limit=abc", "limit"],
  ["limit=1.5", "limit"],
  ["limit=1e2", "limit"],
  ["limit=", "limit"],
  ["limit=99999999999999999999999", "limit"],
  ["cursor=garbage", "cursor"],
  ["cursor=a.b", "cursor"],
  ["cursor=" + "A".repeat(300) + ".B", "cursor"],
  ["cursor=%E2%9C%93.%E2%9C%93", "cursor"],
  ["cursor=", "cursor"],
  ["offset=10", "offset"],
  ["page=2", "page"],
  ["__proto__=x", "__proto__"],
  ["constructor=x", "constructor"],
  ["limit=5&limit=6", "limit"],
  [`device_id=${UUID}&device_id=${UUID}`, "device_id"],
];

Deno.test("bad query or path input is a 400 naming the parameter", async (t) => {
  const store = await openTestDb();
  try {
    const { app } = makeApp(store.db);
    const token = await tenantToken(TENANT_A);
    const admin = await adminToken();
    for (const [query, param] of BAD_LIST_QUERIES) {
      await t.step(`${query.slice(0, 60)} → 400 ${param}`, async () => {
        for (const who of [token, admin]) {
          const res = await get(app, `${LIST}?${query}`, who);
          deepStrictEqual(res.status, 400);
          const body = await res.json() as ErrorBodyJson;
          deepStrictEqual(body.error.code, "invalid_parameter");
          deepStrictEqual(body.error.param, param);
          ok(body.error.message.length > 0);
        }
      });
    }

    await t.step("a non-UUID session_id is a 400 naming session_id", async () => {
      const ids = ["123", "not-a-uuid", `${UUID}0`, UUID.slice(1), "%00", "..%2F..%2Fetc"];
      for (const id of [...ids, "export.csv"]) {
        const res = await get(app, `${LIST}/${id}`, token);
        deepStrictEqual(res.status, 400, id);
        deepStrictEqual((await res.json() as ErrorBodyJson).error, {
          code: "invalid_parameter",
          message: "session_id must be a UUID",
          param: "session_id",
        });
      }
    });

    await t.step("the single-item route refuses unknown parameters", async () => {
      const res = await get(app, `${LIST}/${UUID}?limit=1`, token);
      deepStrictEqual(res.status, 400);
      deepStrictEqual((await res.json() as ErrorBodyJson).error.param, "limit");
    });

    const post = (path: string, bearer: string) =>
      app.request(path, { method: "POST", headers: { Authorization: `Bearer ${bearer}` } });
    const answer = async (res: Response) => [res.status, (await res.json() as ErrorBodyJson).error];

    await t.step("a malformed dead-letter id is a 400 naming id", async () => {
      for (const id of ["abc", "0", "-1", "1.5", "1".repeat(16)]) {
        const [status, error] = await answer(await post(`/v1/dead-letters/${id}/replay`, admin));
        deepStrictEqual([status, error], [400, {
          code: "invalid_parameter",
          message: "id must be a positive integer",
          param: "id",
        }], id);
      }
      // a tenant token is refused before its id is looked at, as for a well-formed id
      equal((await post("/v1/dead-letters/abc/replay", token)).status, 403);
      equal((await post("/v1/dead-letters/1/replay", token)).status, 403);
    });

    await t.step("deeper paths are unknown routes: 404", async () => {
      for (
        const path of [
          `/v1/session-ends/${UUID}/extra`,
          "/v1/session-ends/not-a-uuid/extra",
          "/v1/session-ends/stats/extra",
        ]
      ) {
        const [status, error] = await answer(await get(app, path, token));
        equal(status, 404, path);
        equal((error as ErrorBodyJson["error"]).code, "not_found", path);
      }
      equal((await post("/v1/dead-letters/abc/replay/extra", admin)).status, 404);
      equal((await post("/v1/dead-letters/abc", admin)).status, 404);
    });

    await t.step("without a token the answer is still 401, whatever the id", async () => {
      equal((await get(app, "/v1/session-ends/not-a-uuid")).status, 401);
      equal((await app.request("/v1/dead-letters/abc/replay", { method: "POST" })).status, 401);
    });
  } finally {
    await store.close();
  }
});

Deno.test("garbage never gets a 500", async () => {
  const store = await openTestDb();
  try {
    await insertRows(store.db, generateRows(TENANT_A, 20, 3, 0xa1));
    const { app } = makeApp(store.db);
    const token = await tenantToken(TENANT_A);
    const random = rng(99);
    const alphabet = Array.from("abcdef0123456789-:TZ+.%&=?/#[]{}\"'\\<>; \u00e9\u2603\u{1F600}");
    const names = [
      "device_id",
      "user_id",
      "reason",
      "since",
      "until",
      "limit",
      "cursor",
      "tenant_id",
      "x",
    ];
    const junk = (n: number) =>
      Array.from({ length: n }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
    for (let i = 0; i < 400; i++) {
      const name = names[Math.floor(random() * names.length)];
      const raw = i % 2 === 0
        ? `${LIST}?${name}=${encodeURIComponent(junk(1 + Math.floor(random() * 40)))}`
        : `${LIST}/${encodeURIComponent(junk(1 + Math.floor(random() * 40)))}`;
      const res = await get(app, raw, token);
      ok(res.status < 500, `${raw} → ${res.status}`);
      deepStrictEqual(res.headers.get("content-type")?.startsWith("application/json"), true, raw);
      await res.body?.cancel();
    }
    // raw, undecodable percent-escapes
    for (
      const raw of [`${LIST}?reason=%E0%A4%A`, `${LIST}?%ZZ=1`, `${LIST}/%E0%A4%A`, `${LIST}?&&&`]
    ) {
      const res = await get(app, raw, token);
      ok(res.status < 500, `${raw} → ${res.status}`);
      await res.body?.cancel();
    }
  } finally {
    await store.close();
  }
});

Deno.test("a database failure is a JSON 500 without details", async () => {
  const store = await openTestDb();
  const { app, logLines } = makeApp(store.db);
  const token = await tenantToken(TENANT_A);
  await store.close(); // the database is gone under the app
  const res = await get(app, LIST, token, { "X-Request-Id": "db-down-1" });
  deepStrictEqual(res.status, 500);
  deepStrictEqual(await res.json(), {
    error: { code: "internal", message: "internal error", param: null },
  });
  deepStrictEqual(res.headers.get("X-Request-Id"), "db-down-1");
  ok(logLines.some((l) => l.includes('"unexpected error"') && l.includes("db-down-1")));
});

Deno.test("every response carries a request id, secure headers and one access-log line", async (t) => {
  const store = await openTestDb();
  try {
    const { app, logLines } = makeApp(store.db, { API_CORS_ORIGINS: "https://console.example" });
    const token = await tenantToken(TENANT_A);

    await t.step("a sane incoming X-Request-Id is kept, a bad one replaced", async () => {
      const kept = await get(app, LIST, token, { "X-Request-Id": "abc-123_XYZ" });
      deepStrictEqual(kept.headers.get("X-Request-Id"), "abc-123_XYZ");
      await kept.body?.cancel();
      const replaced = await get(app, LIST, token, { "X-Request-Id": "bad id\u0001<script>" });
      match(replaced.headers.get("X-Request-Id") ?? "", /^[0-9a-f-]{36}$/);
      await replaced.body?.cancel();
      const errored = await get(app, LIST, undefined, { "X-Request-Id": "on-401" });
      deepStrictEqual(errored.status, 401);
      deepStrictEqual(errored.headers.get("X-Request-Id"), "on-401");
      await errored.body?.cancel();
    });

    await t.step("secure headers are on API answers and errors alike", async () => {
      for (
        const res of [await get(app, LIST, token), await get(app, LIST), await get(app, "/nope")]
      ) {
        deepStrictEqual(res.headers.get("X-Content-Type-Options"), "nosniff");
        deepStrictEqual(res.headers.get("X-Frame-Options"), "SAMEORIGIN");
        match(res.headers.get("Content-Security-Policy") ?? "", /default-src 'none'/);
        await res.body?.cancel();
      }
    });

    await t.step("an unknown route is a JSON 404", async () => {
      const res = await app.request("/nope");
      deepStrictEqual(res.status, 404);
      deepStrictEqual((await res.json() as ErrorBodyJson).error.code, "not_found");
    });

    await t.step("one JSON access-log line per request, with its request id", async () => {
      logLines.length = 0;
      const res = await get(app, `${LIST}?limit=1`, token, { "X-Request-Id": "log-me" });
      await res.body?.cancel();
      const lines = logLines.map((l) => JSON.parse(l)).filter((l) => l.msg === "http request");
      deepStrictEqual(lines.length, 1);
      deepStrictEqual(lines[0].request_id, "log-me");
      deepStrictEqual(lines[0].status, 200);
      deepStrictEqual(lines[0].path, LIST);
      ok(!logLines.join("\n").includes(token), "the token is never logged");
    });

    await t.step("CORS answers only the configured origins", async () => {
      const allowed = await app.request(LIST, {
        method: "OPTIONS",
        headers: {
          Origin: "https://console.example",
          "Access-Control-Request-Method": "GET",
          "Access-Control-Request-Headers": "authorization",
        },
      });
      deepStrictEqual(allowed.status, 204);
      deepStrictEqual(
        allowed.headers.get("Access-Control-Allow-Origin"),
        "https://console.example",
      );
      const other = await get(app, LIST, token, { Origin: "https://evil.example" });
      deepStrictEqual(other.headers.get("Access-Control-Allow-Origin"), null);
      await other.body?.cancel();
      const same = await get(app, LIST, token, { Origin: "https://console.example" });
      deepStrictEqual(same.headers.get("Access-Control-Allow-Origin"), "https://console.example");
      match(same.headers.get("Access-Control-Expose-Headers") ?? "", /Link/);
      // A browser client reads how long a 429 asks it to wait.
      match(same.headers.get("Access-Control-Expose-Headers") ?? "", /Retry-After/);
      await same.body?.cancel();
    });
  } finally {
    await store.close();
  }
});

Deno.test("without API_CORS_ORIGINS no CORS header is sent", async () => {
  const store = await openTestDb();
  try {
    const { app } = makeApp(store.db);
    const res = await get(app, LIST, await tenantToken(TENANT_A), {
      Origin: "https://console.example",
    });
    deepStrictEqual(res.headers.get("Access-Control-Allow-Origin"), null);
    await res.body?.cancel();
  } finally {
    await store.close();
  }
});

Deno.test("a route mounted after the item routes is reached, not taken as an id", async () => {
  const store = await openTestDb();
  try {
    const rows = generateRows(TENANT_A, 3, 5, 0xa5);
    await insertRows(store.db, rows);
    const app = new Hono<AuthEnv>();
    app.use("*", async (c, next) => {
      c.set("auth", { kind: "admin" });
      await next();
    });
    app.route(
      "/session-ends",
      sessionEndRoutes({ db: store.db, cursors: new CursorCodec(SECRET) }),
    );
    app.route(
      "/dead-letters",
      deadLetterRoutes({ db: store.db, cursors: new PositionTokenCodec(SECRET, "dead-letters") }),
    );
    // mounted after the item routes, as a new route would be
    app.get("/session-ends/summary", (c) => c.text("summary"));
    app.post("/dead-letters/all/replay", (c) => c.text("all"));

    const summary = await app.request("/session-ends/summary");
    equal(summary.status, 200);
    equal(await summary.text(), "summary");
    const all = await app.request("/dead-letters/all/replay", { method: "POST" });
    equal(all.status, 200);
    equal(await all.text(), "all");
    // the item routes still answer their ids, in any letter case
    const item = await app.request(`/session-ends/${rows[1].sessionId.toUpperCase()}`);
    equal(item.status, 200);
    equal((await item.json()).session_id, rows[1].sessionId);
    equal((await app.request(`/session-ends/${UUID}`)).status, 404);
    equal((await app.request("/dead-letters/999/replay", { method: "POST" })).status, 404);
  } finally {
    await store.close();
  }
});

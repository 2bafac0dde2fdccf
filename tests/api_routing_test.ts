/**
 * Path parameters are constrained to their patterns: an item route never
 * takes the name of a route mounted beside it, a malformed id is a 400
 * naming the parameter, and an unknown deeper path is a 404.
 */
import { deepStrictEqual, equal } from "node:assert/strict";
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
  SECRET,
  TENANT_A,
  tenantToken,
} from "./api_fixture.ts";

const UUID = "0f0e0d0c-0b0a-4908-8706-050403020100";

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

Deno.test("a malformed path id is a 400 naming it; a deeper unknown path is a 404", async (t) => {
  const store = await openTestDb();
  try {
    const { app } = makeApp(store.db);
    const token = await tenantToken(TENANT_A);
    const admin = await adminToken();
    const post = (path: string, bearer: string) =>
      app.request(path, { method: "POST", headers: { Authorization: `Bearer ${bearer}` } });
    const answer = async (res: Response) => [res.status, (await res.json() as ErrorBodyJson).error];

    await t.step("GET /v1/session-ends/{session_id}", async () => {
      for (const id of ["not-a-uuid", `${UUID}0`, UUID.slice(1), "%00", "export.csv"]) {
        const [status, error] = await answer(await get(app, `/v1/session-ends/${id}`, token));
        deepStrictEqual([status, error], [400, {
          code: "invalid_parameter",
          message: "session_id must be a UUID",
          param: "session_id",
        }], id);
      }
    });

    await t.step("POST /v1/dead-letters/{id}/replay", async () => {
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

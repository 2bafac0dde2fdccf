import { deepStrictEqual, match, ok } from "node:assert/strict";
import { sign } from "hono/jwt";
import {
  adminToken,
  type ErrorBodyJson,
  get,
  insertRows,
  makeApp,
  openTestDb,
  SECRET,
  signClaims,
  TENANT_A,
  tenantToken,
} from "./api_fixture.ts";
import { generateRows } from "./api_fixture.ts";

const now = () => Math.floor(Date.now() / 1000);

function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function expect401(res: Response, what: RegExp = /.*/): Promise<ErrorBodyJson> {
  deepStrictEqual(res.status, 401);
  const challenge = res.headers.get("WWW-Authenticate") ?? "";
  match(challenge, /^Bearer realm="session-audit", error="invalid_token"/);
  const body = await res.json() as ErrorBodyJson;
  deepStrictEqual(body.error.code, "unauthorized");
  match(body.error.message, what);
  return body;
}

Deno.test("read API authentication", async (t) => {
  const store = await openTestDb();
  try {
    await insertRows(store.db, generateRows(TENANT_A, 3, 1, 0xa1));
    const { app } = makeApp(store.db);
    const list = "/v1/session-ends";

    await t.step("a request without a token is 401 with a Bearer challenge", async () => {
      await expect401(await get(app, list), /no bearer token/);
    });

    await t.step("a non-Bearer Authorization header is 401", async () => {
      await expect401(await get(app, list, undefined, { Authorization: "Basic dXNlcjpwYXNz" }));
      await expect401(await get(app, list, "not-a-jwt"));
    });

    await t.step("a token signed with another secret is 401", async () => {
      const forged = await sign(
        { tenant_id: TENANT_A, exp: now() + 60 },
        "another-secret-0123456789-abcdefghijkl",
        "HS256",
      );
      await expect401(await get(app, list, forged));
    });

    await t.step("an alg=none token is 401", async () => {
      const none = `${b64url({ alg: "none", typ: "JWT" })}.${
        b64url({ tenant_id: TENANT_A, role: "admin", exp: now() + 60 })
      }.`;
      await expect401(await get(app, list, none));
      await expect401(await get(app, list, none + "AAAA"));
    });

    await t.step("an HS512 token, even with the right secret, is 401", async () => {
      const hs512 = await sign({ tenant_id: TENANT_A, exp: now() + 60 }, SECRET, "HS512");
      await expect401(await get(app, list, hs512));
    });

    await t.step("an RS256-headed token (algorithm confusion) is 401", async () => {
      const good = await tenantToken(TENANT_A);
      const [, payload, signature] = good.split(".");
      const rs256 = `${b64url({ alg: "RS256", typ: "JWT" })}.${payload}.${signature}`;
      await expect401(await get(app, list, rs256));
    });

    await t.step("an expired token is 401", async () => {
      // Beyond the default clock leeway (60 s): a token expired moments ago is still within it.
      const expired = await signClaims({ tenant_id: TENANT_A, exp: now() - 3600 });
      await expect401(await get(app, list, expired));
    });

    await t.step("a token whose nbf is in the future is 401", async () => {
      const early = await signClaims({ tenant_id: TENANT_A, nbf: now() + 600, exp: now() + 3600 });
      await expect401(await get(app, list, early));
    });

    await t.step("a token without exp is 401", async () => {
      await expect401(await get(app, list, await signClaims({ tenant_id: TENANT_A })), /exp/);
    });

    await t.step("a valid token without tenant_id or admin role is 403", async () => {
      for (
        const claims of [
          {},
          { role: "reader" },
          { tenant_id: "not-a-uuid" },
          { tenant_id: 42 },
          { role: ["admin"] },
        ]
      ) {
        const res = await get(app, list, await signClaims({ ...claims, exp: now() + 60 }));
        deepStrictEqual(res.status, 403, JSON.stringify(claims));
        match(res.headers.get("WWW-Authenticate") ?? "", /error="insufficient_scope"/);
        deepStrictEqual((await res.json() as ErrorBodyJson).error.code, "forbidden");
      }
    });

    await t.step("a tenant token and an admin token are accepted", async () => {
      const tenant = await get(app, list, await tenantToken(TENANT_A));
      deepStrictEqual(tenant.status, 200);
      deepStrictEqual((await tenant.json()).items.length, 3);
      const admin = await get(app, list, await adminToken());
      deepStrictEqual(admin.status, 200);
      deepStrictEqual((await admin.json()).items.length, 3);
    });

    await t.step("the scheme name is case-insensitive", async () => {
      const res = await get(app, list, undefined, {
        Authorization: `bearer ${await tenantToken(TENANT_A)}`,
      });
      deepStrictEqual(res.status, 200);
      await res.body?.cancel();
    });

    await t.step("the single-item route is behind the same check", async () => {
      await expect401(await get(app, `${list}/aaaaaaaa-0000-4000-8000-000000000001`));
    });

    await t.step("an unknown /v1 route is 401 without a token, JSON 404 with one", async () => {
      await expect401(await get(app, "/v1/nothing-here"));
      const res = await get(app, "/v1/nothing-here", await adminToken());
      deepStrictEqual(res.status, 404);
      deepStrictEqual((await res.json() as ErrorBodyJson).error.code, "not_found");
    });
  } finally {
    await store.close();
  }
});

Deno.test("without API_JWT_SECRET every /v1 route is 401 and says the secret is not configured", async () => {
  const store = await openTestDb();
  try {
    const { app } = makeApp(store.db, { API_JWT_SECRET: undefined });
    const token = await adminToken();
    for (
      const path of [
        "/v1/session-ends",
        "/v1/session-ends/aaaaaaaa-0000-4000-8000-000000000001",
        "/v1/x",
      ]
    ) {
      await expect401(await get(app, path, token), /API_JWT_SECRET is not configured/);
    }
    const health = await app.request("/healthz");
    deepStrictEqual(health.status, 200);
    ok(health.headers.get("X-Request-Id"));
    await health.body?.cancel();
  } finally {
    await store.close();
  }
});

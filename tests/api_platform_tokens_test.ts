/**
 * The platform's own access tokens, exactly as its backend mints them
 * (python-jose output kept verbatim), against the read API: the role
 * matrix under the default claim mapping and under the setting that mirrors
 * the platform's rule (operator and above), refresh tokens, expiry.
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";
import { createTokenVerifier } from "../src/api/token_verifier.ts";
import { mintPlatformToken, mintToken } from "../src/api/token.ts";
import {
  PLATFORM_ISSUED_AT_MS,
  PLATFORM_SECRET,
  PLATFORM_TENANT,
  PLATFORM_TOKENS,
  PLATFORM_USER,
} from "../src/testing/platform_tokens.ts";
import {
  adminToken,
  type ErrorBodyJson,
  generateRows,
  get,
  insertRows,
  makeApp,
  openTestDb,
  type PageBody,
  TENANT_A,
  TENANT_B,
  tenantToken,
  type TestApp,
} from "./api_fixture.ts";
import type { Database } from "../src/store/client.ts";

const LIST = "/v1/session-ends?limit=500";
/** The platform's secret is this service's API_JWT_SECRET. */
const PLATFORM_ENV = { API_JWT_SECRET: PLATFORM_SECRET };
/** The README's setting that mirrors the platform: operator and above read audit logs. */
const MIRROR_ENV = { ...PLATFORM_ENV, API_READ_ROLES: "super_admin,tenant_admin,operator" };

/** An app whose clock reads `atMs` (the tokens were issued at {@linkcode PLATFORM_ISSUED_AT_MS}). */
function appAt(db: Database, env: Record<string, string>, atMs: number): TestApp {
  return makeApp(db, env, (config) => ({
    tokens: createTokenVerifier(config.apiJwtSecret, config.apiAuth, {
      clock: { now: () => atMs },
    }),
  }));
}

async function tenantsSeen(app: TestApp["app"], token: string): Promise<string[]> {
  const res = await get(app, LIST, token);
  deepStrictEqual(res.status, 200, await res.clone().text());
  const body = await res.json() as PageBody;
  return [...new Set(body.items.map((item) => item.tenant_id))].sort();
}

async function refusal(res: Response): Promise<[number, string, string]> {
  const challenge = res.headers.get("WWW-Authenticate") ?? "";
  const error = /error="([a-z_]+)"/.exec(challenge)?.[1] ?? "";
  return [res.status, error, (await res.json() as ErrorBodyJson).error.message];
}

Deno.test("platform tokens: the role matrix", async (t) => {
  ok(PLATFORM_TENANT === TENANT_A, "the platform's tenant is the fixture's tenant A");
  const store = await openTestDb();
  try {
    await insertRows(store.db, generateRows(TENANT_A, 4, 1, 0xb1));
    await insertRows(store.db, generateRows(TENANT_B, 3, 2, 0xb2));
    const minuteLater = PLATFORM_ISSUED_AT_MS + 60_000;
    const both = [TENANT_A, TENANT_B];

    await t.step("default mapping: super_admin (tenant_id null) reads every tenant", async () => {
      const { app } = appAt(store.db, PLATFORM_ENV, minuteLater);
      deepStrictEqual(await tenantsSeen(app, PLATFORM_TOKENS.super_admin), both);
    });

    await t.step(
      "default mapping: tenant_admin, operator and viewer read their tenant only",
      async () => {
        const { app } = appAt(store.db, PLATFORM_ENV, minuteLater);
        for (const role of ["tenant_admin", "operator", "viewer"] as const) {
          deepStrictEqual(await tenantsSeen(app, PLATFORM_TOKENS[role]), [TENANT_A], role);
          const foreign = await get(app, `${LIST}&tenant_id=${TENANT_B}`, PLATFORM_TOKENS[role]);
          deepStrictEqual(foreign.status, 403, role);
          await foreign.body?.cancel();
        }
      },
    );

    await t.step("a refresh token is refused with 401, whatever the mapping", async () => {
      for (const env of [PLATFORM_ENV, MIRROR_ENV]) {
        const { app } = appAt(store.db, env, minuteLater);
        const [status, error, message] = await refusal(
          await get(app, LIST, PLATFORM_TOKENS.refresh),
        );
        deepStrictEqual([status, error], [401, "invalid_token"]);
        match(message, /not an access token \(type "refresh"\)/);
      }
    });

    await t.step(
      "operator and above (API_READ_ROLES): the viewer is refused with 403",
      async () => {
        const { app } = appAt(store.db, MIRROR_ENV, minuteLater);
        deepStrictEqual(await tenantsSeen(app, PLATFORM_TOKENS.super_admin), both);
        deepStrictEqual(await tenantsSeen(app, PLATFORM_TOKENS.tenant_admin), [TENANT_A]);
        deepStrictEqual(await tenantsSeen(app, PLATFORM_TOKENS.operator), [TENANT_A]);
        const [status, error, message] = await refusal(
          await get(app, LIST, PLATFORM_TOKENS.viewer),
        );
        deepStrictEqual([status, error], [403, "insufficient_scope"]);
        match(message, /role may not read audit data \(role "viewer"\)/);
      },
    );

    await t.step("operator and above: this service's own tokens keep working", async () => {
      // Service tokens are minted now, so the app reads the wall clock here.
      const { app } = makeApp(store.db, { ...MIRROR_ENV });
      const secret = { secret: PLATFORM_SECRET };
      deepStrictEqual(await tenantsSeen(app, await mintToken({ ...secret, admin: true })), both);
      deepStrictEqual(
        await tenantsSeen(app, await mintToken({ ...secret, tenantId: TENANT_B })),
        [TENANT_B],
      );
    });

    await t.step("API_ADMIN_ROLES decides who reads every tenant", async () => {
      const { app } = appAt(store.db, { ...PLATFORM_ENV, API_ADMIN_ROLES: "admin" }, minuteLater);
      const [status, error] = await refusal(await get(app, LIST, PLATFORM_TOKENS.super_admin));
      deepStrictEqual([status, error], [403, "insufficient_scope"]);
      const widened = appAt(
        store.db,
        { ...PLATFORM_ENV, API_ADMIN_ROLES: "super_admin,tenant_admin" },
        minuteLater,
      );
      deepStrictEqual(await tenantsSeen(widened.app, PLATFORM_TOKENS.tenant_admin), both);
    });

    await t.step("a role below super_admin without a tenant reads nothing (403)", async () => {
      const clock = { now: () => PLATFORM_ISSUED_AT_MS };
      const token = await mintPlatformToken({
        secret: PLATFORM_SECRET,
        subject: PLATFORM_USER,
        role: "operator",
        tenantId: null,
        clock,
      });
      const { app } = appAt(store.db, PLATFORM_ENV, minuteLater);
      const [status, error] = await refusal(await get(app, LIST, token));
      deepStrictEqual([status, error], [403, "insufficient_scope"]);
    });

    await t.step("the 15-minute access token expires (plus the clock leeway)", async () => {
      const expiry = PLATFORM_ISSUED_AT_MS + 15 * 60_000;
      const justWithin = appAt(store.db, PLATFORM_ENV, expiry + 59_000);
      deepStrictEqual(await tenantsSeen(justWithin.app, PLATFORM_TOKENS.operator), [TENANT_A]);
      const beyond = appAt(store.db, PLATFORM_ENV, expiry + 60_000);
      const [status, , message] = await refusal(
        await get(beyond.app, LIST, PLATFORM_TOKENS.operator),
      );
      deepStrictEqual(status, 401);
      match(message, /expired/);
    });

    await t.step("a platform token signed with another secret is 401", async () => {
      const { app } = appAt(store.db, {}, minuteLater);
      const [status, , message] = await refusal(await get(app, LIST, PLATFORM_TOKENS.operator));
      deepStrictEqual(status, 401);
      match(message, /signature does not verify/);
    });

    await t.step(
      "the access log line names the token's sub; a service token has none",
      async () => {
        const { app, logLines } = appAt(store.db, PLATFORM_ENV, minuteLater);
        await (await get(app, LIST, PLATFORM_TOKENS.operator)).body?.cancel();
        const line = JSON.parse(logLines.findLast((l) => l.includes('"http request"'))!);
        deepStrictEqual([line.status, line.sub], [200, PLATFORM_USER]);
        const service = makeApp(store.db);
        await (await get(service.app, LIST, await tenantToken(TENANT_A))).body?.cancel();
        await (await get(service.app, LIST, await adminToken())).body?.cancel();
        const lines = service.logLines.filter((l) => l.includes('"http request"')).map((l) =>
          JSON.parse(l)
        );
        deepStrictEqual(lines.map((l) => [l.status, "sub" in l]), [[200, false], [200, false]]);
      },
    );
  } finally {
    await store.close();
  }
});

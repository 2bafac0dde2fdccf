/**
 * The platform's own access tokens, exactly as its backend mints them
 * (python-jose output kept verbatim), against the read API: the role
 * matrix under the default claim mapping and under the setting that mirrors
 * the platform's rule (operator and above), refresh tokens, expiry.
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";
import { mintPlatformToken, mintToken } from "../src/api/token.ts";
import {
  PLATFORM_ISSUED_AT_MS,
  PLATFORM_SECRET,
  PLATFORM_TENANT,
  PLATFORM_TOKENS,
  PLATFORM_USER,
} from "../src/testing/platform_tokens.ts";
import type { Database } from "../src/store/client.ts";
import { adminToken, get, makeApp, TENANT_A, TENANT_B, tenantToken } from "./api_fixture.ts";
import {
  answer,
  type AuthApp,
  authApp,
  BOTH_TENANTS,
  LIST,
  withTwoTenants,
} from "./auth_fixture.ts";

/** The platform's secret is this service's API_JWT_SECRET. */
const PLATFORM_ENV = { API_JWT_SECRET: PLATFORM_SECRET };
/** The README's setting that mirrors the platform: operator and above read audit logs. */
const MIRROR_ENV = { ...PLATFORM_ENV, API_READ_ROLES: "super_admin,tenant_admin,operator" };

/** An app whose clock reads `atMs` (the tokens were issued at {@linkcode PLATFORM_ISSUED_AT_MS}). */
function appAt(db: Database, env: Record<string, string>, atMs: number): AuthApp {
  return authApp(db, env, { now: () => atMs });
}

Deno.test("platform tokens: the role matrix", async (t) => {
  ok(PLATFORM_TENANT === TENANT_A, "the platform's tenant is the fixture's tenant A");
  await withTwoTenants(async (db) => {
    const minuteLater = PLATFORM_ISSUED_AT_MS + 60_000;

    await t.step("default mapping: super_admin (tenant_id null) reads every tenant", async () => {
      const { app } = appAt(db, PLATFORM_ENV, minuteLater);
      deepStrictEqual(await answer(app, PLATFORM_TOKENS.super_admin), [200, BOTH_TENANTS]);
    });

    await t.step(
      "default mapping: tenant_admin, operator and viewer read their tenant",
      async () => {
        const { app } = appAt(db, PLATFORM_ENV, minuteLater);
        for (const role of ["tenant_admin", "operator", "viewer"] as const) {
          deepStrictEqual(await answer(app, PLATFORM_TOKENS[role]), [200, TENANT_A], role);
          const [foreign] = await answer(
            app,
            PLATFORM_TOKENS[role],
            `${LIST}&tenant_id=${TENANT_B}`,
          );
          deepStrictEqual(foreign, 403, role);
        }
      },
    );

    await t.step("a refresh token is refused with 401, whatever the mapping", async () => {
      for (const env of [PLATFORM_ENV, MIRROR_ENV]) {
        const [status, why] = await answer(
          appAt(db, env, minuteLater).app,
          PLATFORM_TOKENS.refresh,
        );
        deepStrictEqual(status, 401);
        match(why, /^invalid_token the token is not an access token \(type "refresh"\)/);
      }
    });

    await t.step(
      "operator and above (API_READ_ROLES): the viewer is refused with 403",
      async () => {
        const { app } = appAt(db, MIRROR_ENV, minuteLater);
        deepStrictEqual(await answer(app, PLATFORM_TOKENS.super_admin), [200, BOTH_TENANTS]);
        deepStrictEqual(await answer(app, PLATFORM_TOKENS.tenant_admin), [200, TENANT_A]);
        deepStrictEqual(await answer(app, PLATFORM_TOKENS.operator), [200, TENANT_A]);
        const [status, why] = await answer(app, PLATFORM_TOKENS.viewer);
        deepStrictEqual(status, 403);
        match(why, /^insufficient_scope .*role may not read audit data \(role "viewer"\)/);
      },
    );

    await t.step("operator and above: this service's own tokens keep working", async () => {
      // Service tokens are minted now, so this app reads the wall clock.
      const { app } = makeApp(db, MIRROR_ENV);
      const secret = PLATFORM_SECRET;
      deepStrictEqual(await answer(app, await mintToken({ secret, admin: true })), [
        200,
        BOTH_TENANTS,
      ]);
      deepStrictEqual(
        await answer(app, await mintToken({ secret, tenantId: TENANT_B })),
        [200, TENANT_B],
      );
    });

    await t.step("API_ADMIN_ROLES decides who reads every tenant", async () => {
      const narrow = appAt(db, { ...PLATFORM_ENV, API_ADMIN_ROLES: "admin" }, minuteLater);
      const [status, why] = await answer(narrow.app, PLATFORM_TOKENS.super_admin);
      deepStrictEqual(status, 403);
      match(why, /^insufficient_scope /);
      const wide = appAt(
        db,
        { ...PLATFORM_ENV, API_ADMIN_ROLES: "super_admin,tenant_admin" },
        minuteLater,
      );
      deepStrictEqual(await answer(wide.app, PLATFORM_TOKENS.tenant_admin), [200, BOTH_TENANTS]);
    });

    await t.step("a role below super_admin without a tenant reads nothing (403)", async () => {
      const token = await mintPlatformToken({
        secret: PLATFORM_SECRET,
        subject: PLATFORM_USER,
        role: "operator",
        tenantId: null,
        clock: { now: () => PLATFORM_ISSUED_AT_MS },
      });
      const [status, why] = await answer(appAt(db, PLATFORM_ENV, minuteLater).app, token);
      deepStrictEqual(status, 403);
      match(why, /^insufficient_scope .*neither a tenant_id nor an administrator role/);
    });

    await t.step("the 15-minute access token expires (plus the clock leeway)", async () => {
      const expiry = PLATFORM_ISSUED_AT_MS + 15 * 60_000;
      const justWithin = appAt(db, PLATFORM_ENV, expiry + 59_000);
      deepStrictEqual(await answer(justWithin.app, PLATFORM_TOKENS.operator), [200, TENANT_A]);
      const beyond = appAt(db, PLATFORM_ENV, expiry + 60_000);
      const [status, why] = await answer(beyond.app, PLATFORM_TOKENS.operator);
      deepStrictEqual(status, 401);
      match(why, /expired/);
    });

    await t.step("a platform token signed with another secret is 401", async () => {
      const [status, why] = await answer(appAt(db, {}, minuteLater).app, PLATFORM_TOKENS.operator);
      deepStrictEqual(status, 401);
      match(why, /signature does not verify/);
    });

    await t.step(
      "the access log line names the token's sub; a service token has none",
      async () => {
        const { app, logLines } = appAt(db, PLATFORM_ENV, minuteLater);
        await (await get(app, LIST, PLATFORM_TOKENS.operator)).body?.cancel();
        const line = JSON.parse(logLines.findLast((l) => l.includes('"http request"'))!);
        deepStrictEqual([line.status, line.sub], [200, PLATFORM_USER]);
        const service = makeApp(db);
        await (await get(service.app, LIST, await tenantToken(TENANT_A))).body?.cancel();
        await (await get(service.app, LIST, await adminToken())).body?.cancel();
        const lines = service.logLines.filter((l) => l.includes('"http request"'))
          .map((l) => JSON.parse(l));
        deepStrictEqual(lines.map((l) => [l.status, "sub" in l]), [[200, false], [200, false]]);
      },
    );
  });
});

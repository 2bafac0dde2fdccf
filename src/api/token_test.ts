import { deepStrictEqual, rejects } from "node:assert/strict";
import { verify } from "hono/jwt";
import { loadConfig } from "../config.ts";
import { decideAccess } from "./claims.ts";
import { mintPlatformToken, mintToken } from "./token.ts";
import {
  PLATFORM_ISSUED_AT_MS,
  PLATFORM_SECRET,
  PLATFORM_TENANT,
  PLATFORM_TOKENS,
  PLATFORM_USER,
} from "../testing/platform_tokens.ts";

const SECRET = "token-test-secret-0123456789-abcdef";
const TENANT = "0F0E0D0C-0B0A-4908-8706-050403020100";

Deno.test("a minted tenant token verifies as HS256 and, under the default claim mapping, scopes to the lower-case tenant", async () => {
  const token = await mintToken({ secret: SECRET, tenantId: TENANT, ttlSeconds: 120 });
  const claims = await verify(token, SECRET, { alg: "HS256" });
  deepStrictEqual(claims.tenant_id, TENANT.toLowerCase());
  deepStrictEqual((claims.exp as number) - (claims.iat as number), 120);
  deepStrictEqual(decideAccess(claims, loadConfig({}).apiAuth), {
    ok: true,
    scope: { kind: "tenant", tenantId: TENANT.toLowerCase() },
  });
});

Deno.test("a minted admin token lasts an hour by default", async () => {
  const claims = await verify(await mintToken({ secret: SECRET, admin: true }), SECRET, "HS256");
  deepStrictEqual(claims.role, "admin");
  deepStrictEqual((claims.exp as number) - (claims.iat as number), 3600);
  deepStrictEqual(decideAccess(claims, loadConfig({}).apiAuth), {
    ok: true,
    scope: { kind: "admin" },
  });
});

Deno.test("mintToken refuses bad options, naming them", async () => {
  const cases: [Parameters<typeof mintToken>[0], RegExp][] = [
    [{ secret: "short", admin: true }, /'secret'/],
    [{ secret: SECRET, tenantId: "nope" }, /'tenantId' must be a UUID/],
    [{ secret: SECRET }, /'tenantId' or 'admin'/],
    [{ secret: SECRET, admin: true, ttlSeconds: 0 }, /'ttlSeconds'.*0/],
    [{ secret: SECRET, admin: true, ttlSeconds: 1.5 }, /'ttlSeconds'/],
  ];
  for (const [options, message] of cases) await rejects(mintToken(options), message);
});

Deno.test("mintPlatformToken reproduces the platform's own tokens byte for byte", async () => {
  const clock = { now: () => PLATFORM_ISSUED_AT_MS };
  const base = { secret: PLATFORM_SECRET, subject: PLATFORM_USER, clock };
  deepStrictEqual(
    await mintPlatformToken({ ...base, role: "super_admin", tenantId: null }),
    PLATFORM_TOKENS.super_admin,
  );
  for (const role of ["tenant_admin", "operator", "viewer"] as const) {
    deepStrictEqual(
      await mintPlatformToken({ ...base, role, tenantId: PLATFORM_TENANT.toUpperCase() }),
      PLATFORM_TOKENS[role],
      role,
    );
  }
  deepStrictEqual(await mintPlatformToken({ ...base, type: "refresh" }), PLATFORM_TOKENS.refresh);
});

Deno.test("mintPlatformToken refuses bad options, naming them", async () => {
  const base = { secret: SECRET, subject: PLATFORM_USER };
  const cases: [Parameters<typeof mintPlatformToken>[0], RegExp][] = [
    [{ ...base, secret: "short", role: "viewer" }, /'secret'/],
    [{ ...base, subject: "user-1", role: "viewer" }, /'subject' must be a UUID/],
    [{ ...base, role: "viewer", tenantId: "t" }, /'tenantId' must be a UUID/],
    [{ ...base }, /'role' must be one of super_admin, tenant_admin, operator, viewer/],
    [{ ...base, role: "admin" as "viewer" }, /'role'.*"admin"/],
    [{ ...base, role: "viewer", ttlSeconds: -1 }, /'ttlSeconds'/],
  ];
  for (const [options, message] of cases) await rejects(mintPlatformToken(options), message);
});

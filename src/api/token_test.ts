import { deepStrictEqual, rejects } from "node:assert/strict";
import { verify } from "hono/jwt";
import { scopeFromClaims } from "./auth.ts";
import { mintToken } from "./token.ts";

const SECRET = "token-test-secret-0123456789-abcdef";
const TENANT = "0F0E0D0C-0B0A-4908-8706-050403020100";

Deno.test("a minted tenant token verifies as HS256 and scopes to the lower-case tenant", async () => {
  const token = await mintToken({ secret: SECRET, tenantId: TENANT, ttlSeconds: 120 });
  const claims = await verify(token, SECRET, { alg: "HS256" });
  deepStrictEqual(claims.tenant_id, TENANT.toLowerCase());
  deepStrictEqual((claims.exp as number) - (claims.iat as number), 120);
  deepStrictEqual(scopeFromClaims(claims), { kind: "tenant", tenantId: TENANT.toLowerCase() });
});

Deno.test("a minted admin token lasts an hour by default", async () => {
  const claims = await verify(await mintToken({ secret: SECRET, admin: true }), SECRET, "HS256");
  deepStrictEqual(claims.role, "admin");
  deepStrictEqual((claims.exp as number) - (claims.iat as number), 3600);
  deepStrictEqual(scopeFromClaims(claims), { kind: "admin" });
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

import { deepStrictEqual, match, rejects, throws } from "node:assert/strict";
import { parseTtl, tokenFromArgs } from "./token.ts";

Deno.test("--ttl takes seconds or a number with a unit", () => {
  deepStrictEqual(parseTtl("900"), 900);
  deepStrictEqual(parseTtl("30m"), 1800);
  deepStrictEqual(parseTtl("12h"), 43200);
  deepStrictEqual(parseTtl("7d"), 604800);
  for (const bad of ["", "1y", "-5", "1.5h", "h"]) throws(() => parseTtl(bad), /'--ttl'/);
});

const ENV = { API_JWT_SECRET: "token-script-secret-0123456789-abcdef" };
const TENANT = "0f0e0d0c-0b0a-4908-8706-050403020100";
const USER = "5d7c3c6e-8d4f-4b43-9a51-1f0e2d3c4b5a";

/** The header and claims of a token, in the order they were written. */
function parts(token: string): [string, string] {
  const [header, payload] = token.split(".").slice(0, 2).map((part) =>
    atob(part.replaceAll("-", "+").replaceAll("_", "/"))
  );
  return [header, payload];
}

Deno.test("--role mints a platform access token: sub, tenant_id, role, type, iat, exp (15 min)", async () => {
  const [header, payload] = parts(
    await tokenFromArgs(["--role", "operator", "--tenant", TENANT, "--sub", USER], ENV),
  );
  deepStrictEqual(header, '{"alg":"HS256","typ":"JWT"}');
  const claims = JSON.parse(payload);
  deepStrictEqual(Object.keys(claims), ["sub", "tenant_id", "role", "type", "iat", "exp"]);
  deepStrictEqual([claims.sub, claims.tenant_id, claims.role, claims.type], [
    USER,
    TENANT,
    "operator",
    "access",
  ]);
  deepStrictEqual(claims.exp - claims.iat, 900);
});

Deno.test("--role without --tenant has tenant_id null; --type refresh carries only sub (7 days)", async () => {
  const superAdmin = JSON.parse(parts(await tokenFromArgs(["--role", "super_admin"], ENV))[1]);
  deepStrictEqual(superAdmin.tenant_id, null);
  match(superAdmin.sub, /^[0-9a-f-]{36}$/);
  const refresh = JSON.parse(
    parts(await tokenFromArgs(["--type", "refresh", "--sub", USER], ENV))[1],
  );
  deepStrictEqual(Object.keys(refresh), ["sub", "type", "iat", "exp"]);
  deepStrictEqual(refresh.type, "refresh");
  deepStrictEqual(refresh.exp - refresh.iat, 7 * 86400);
});

Deno.test("--tenant and --admin still mint this service's tokens", async () => {
  const tenant = JSON.parse(
    parts(await tokenFromArgs(["--tenant", TENANT, "--ttl", "2m"], ENV))[1],
  );
  deepStrictEqual(Object.keys(tenant), ["tenant_id", "iat", "exp"]);
  deepStrictEqual(tenant.exp - tenant.iat, 120);
  const admin = JSON.parse(parts(await tokenFromArgs(["--admin"], ENV))[1]);
  deepStrictEqual([admin.role, admin.exp - admin.iat], ["admin", 3600]);
});

Deno.test("bad token arguments are refused, naming what is wrong", async () => {
  const cases: [string[], RegExp][] = [
    [[], /--tenant <uuid>, --admin or --role/],
    [["--role", "admin"], /'role' must be one of/],
    [["--type", "id"], /'--type' must be access or refresh/],
    [["--type", "refresh", "--role", "viewer"], /only sub/],
    [["--admin", "--role", "viewer"], /--admin/],
    [["--role", "viewer", "--sub", "me"], /'subject' must be a UUID/],
  ];
  for (const [args, message] of cases) await rejects(tokenFromArgs(args, ENV), message);
  await rejects(tokenFromArgs(["--admin"], {}), /no secret/);
});

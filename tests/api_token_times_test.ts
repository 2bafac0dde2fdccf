/**
 * Clock skew: `exp`, `nbf` and `iat` are honoured with a leeway (60 s by
 * default, `API_JWT_LEEWAY_SECONDS`), for HS256 tokens and identity-provider
 * tokens alike, on both sides of it. The service's clock is injected.
 */
import { deepStrictEqual } from "node:assert/strict";
import { signClaims, TENANT_A } from "./api_fixture.ts";
import { answer, authApp, withTwoTenants } from "./auth_fixture.ts";
import { serveJwks, signingKey, signWith } from "./idp_fixture.ts";

/** The service's clock: 2026-04-01T12:00:00Z, in seconds. */
const NOW = Date.UTC(2026, 3, 1, 12) / 1000;

type Times = { exp?: number; nbf?: number; iat?: number };

/** [claims relative to NOW, leeway, expected status] */
const CASES: [string, Times, string | undefined, number][] = [
  ["exp 59 s ago, leeway 60", { exp: NOW - 59 }, undefined, 200],
  ["exp 60 s ago, leeway 60", { exp: NOW - 60 }, undefined, 401],
  ["nbf in 60 s, leeway 60", { exp: NOW + 600, nbf: NOW + 60 }, undefined, 200],
  ["nbf in 61 s, leeway 60", { exp: NOW + 600, nbf: NOW + 61 }, undefined, 401],
  ["iat in 60 s, leeway 60", { exp: NOW + 600, iat: NOW + 60 }, undefined, 200],
  ["iat in 61 s, leeway 60", { exp: NOW + 600, iat: NOW + 61 }, undefined, 401],
  ["exp in 1 s, leeway 0", { exp: NOW + 1 }, "0", 200],
  ["exp now, leeway 0", { exp: NOW }, "0", 401],
  ["nbf now, leeway 0", { exp: NOW + 600, nbf: NOW }, "0", 200],
  ["nbf in 1 s, leeway 0", { exp: NOW + 600, nbf: NOW + 1 }, "0", 401],
  ["iat now, leeway 0", { exp: NOW + 600, iat: NOW }, "0", 200],
  ["iat in 1 s, leeway 0", { exp: NOW + 600, iat: NOW + 1 }, "0", 401],
  ["exp 299 s ago, leeway 300", { exp: NOW - 299 }, "300", 200],
  ["exp 300 s ago, leeway 300", { exp: NOW - 300 }, "300", 401],
];

Deno.test("exp, nbf and iat are honoured within the leeway and refused beyond it", async (t) => {
  const key = await signingKey("ES256", "skew");
  const server = serveJwks(key);
  const clock = { now: () => NOW * 1000 };
  try {
    await withTwoTenants(async (db) => {
      for (const [what, times, leeway, expected] of CASES) {
        await t.step(what, async () => {
          const env = { API_JWKS_URL: server.url, API_JWT_LEEWAY_SECONDS: leeway };
          const { app } = authApp(db, env, clock);
          const claims = { tenant_id: TENANT_A, ...times };
          for (const token of [await signClaims(claims), await signWith(key, claims)]) {
            const [status, why] = await answer(app, token);
            deepStrictEqual(status, expected, `${token.slice(0, 20)}: ${why}`);
          }
        });
      }
    });
  } finally {
    await server.close();
  }
});

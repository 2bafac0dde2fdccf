/**
 * Identity-provider tokens (RS256, ES256, EdDSA) verified with the
 * provider's JSON Web Key Set, served by a real HTTP server on the loopback:
 * caching, rotation without a restart, the rate-limited refetch of unknown
 * `kid`s, a provider that hangs, answers garbage or is down, `iss`/`aud`
 * pinning, and a key set instead of the HS256 secret.
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";
import type { Database } from "../src/store/client.ts";
import { makeApp, TENANT_A, TENANT_B, tenantToken, walk } from "./api_fixture.ts";
import { answer, type AuthApp, authApp, BOTH_TENANTS, withTwoTenants } from "./auth_fixture.ts";
import { freePort, settles, waitFor } from "./harness.ts";
import {
  type JwksServer,
  serveJwks,
  type SigningKey,
  signingKey,
  signWith,
} from "./idp_fixture.ts";

const now = () => Math.floor(Date.now() / 1000);
const claims = (extra: Record<string, unknown> = {}) => ({
  tenant_id: TENANT_A,
  sub: "idp|user-1",
  iat: now(),
  exp: now() + 300,
  ...extra,
});

/** The provider's key-set server, the two-tenant database and an app that trusts the provider. */
interface Provider extends AuthApp {
  server: JwksServer;
  db: Database;
}

/**
 * Runs `body` with a provider publishing `keys` and an app whose
 * `API_JWKS_URL` is its key set (`env` adds to the app's environment).
 */
async function withProvider(
  keys: SigningKey[],
  env: Record<string, string | undefined>,
  body: (provider: Provider) => Promise<void>,
): Promise<void> {
  const server = serveJwks(...keys);
  try {
    await withTwoTenants((db) =>
      body({ server, db, ...authApp(db, { API_JWKS_URL: server.url, ...env }) })
    );
  } finally {
    await server.close();
  }
}

Deno.test("RS256, ES256 and EdDSA tokens verify against the cached key set, beside HS256 tokens", async () => {
  const keys = await Promise.all([
    signingKey("RS256", "rsa-1"),
    signingKey("ES256", "ec-1"),
    signingKey("EdDSA", "ed-1"),
  ]);
  await withProvider(keys, {}, async ({ app, logLines, server }) => {
    for (const key of keys) {
      deepStrictEqual(await answer(app, await signWith(key, claims())), [200, TENANT_A], key.alg);
      deepStrictEqual(
        await answer(app, await signWith(key, claims({ tenant_id: undefined, role: "admin" }))),
        [200, BOTH_TENANTS],
        key.alg,
      );
    }
    deepStrictEqual(await answer(app, await tenantToken(TENANT_B)), [200, TENANT_B]);
    deepStrictEqual(server.requests, 1, "one fetch serves every request");
    const line = JSON.parse(logLines.findLast((l) => l.includes('"http request"'))!);
    ok(!("sub" in line), "the service token has no sub");
    ok(logLines.some((l) => l.includes('"sub":"idp|user-1"')), "the provider's sub is logged");
  });
});

Deno.test("a key rotated at the provider is used without a restart; a retired key stops verifying", async () => {
  const [first, second, third] = await Promise.all([
    signingKey("ES256", "2026-01"),
    signingKey("ES256", "2026-02"),
    signingKey("RS256", "2026-03"),
  ]);
  await withProvider([first], {}, async ({ app, server, timers }) => {
    deepStrictEqual(await answer(app, await signWith(first, claims())), [200, TENANT_A]);
    deepStrictEqual(server.requests, 1);

    // Rotation, some time later: the provider publishes the new key and retires the old one.
    timers.advance(30_000);
    server.publish(second);
    deepStrictEqual(await answer(app, await signWith(second, claims())), [200, TENANT_A]);
    deepStrictEqual(server.requests, 2, "the unknown kid fetched the set again");
    const [retired, why] = await answer(app, await signWith(first, claims()));
    deepStrictEqual(retired, 401);
    match(why, /no key of the identity provider's key set matches/);

    // A key retired without a new kid in sight goes when the set is refreshed (max age).
    timers.advance(30_000);
    server.publish(second, third);
    deepStrictEqual(await answer(app, await signWith(third, claims())), [200, TENANT_A]);
    server.publish(third);
    deepStrictEqual(await answer(app, await signWith(second, claims())), [200, TENANT_A]);
    timers.advance(600_000);
    const before = server.requests;
    deepStrictEqual(await answer(app, await signWith(third, claims())), [200, TENANT_A]);
    await waitFor("the background refresh", async () =>
      server.requests > before &&
      (await answer(app, await signWith(second, claims())))[0] === 401);
  });
});

Deno.test("an unknown kid is refused and fetches the set at most once per cool-down", async () => {
  const [published, attacker] = await Promise.all([
    signingKey("RS256", "published"),
    signingKey("RS256", "attacker"),
  ]);
  await withProvider([published], {}, async ({ app, server, timers }) => {
    deepStrictEqual(await answer(app, await signWith(published, claims())), [200, TENANT_A]);
    timers.advance(30_000);
    const [refused, why] = await answer(app, await signWith(attacker, claims()));
    deepStrictEqual(refused, 401);
    match(why, /no key .* matches the token's kid/);
    deepStrictEqual(server.requests, 2, "the first fetch, then one refetch for the unknown kid");
    for (let i = 0; i < 20; i++) {
      const forged = await signWith(attacker, claims(), { kid: `forged-${i}` });
      deepStrictEqual((await answer(app, forged))[0], 401);
    }
    deepStrictEqual(server.requests, 2, "no refetch within the cool-down");
    deepStrictEqual(await answer(app, await signWith(published, claims())), [200, TENANT_A]);
    timers.advance(30_000);
    deepStrictEqual((await answer(app, await signWith(attacker, claims())))[0], 401);
    deepStrictEqual(server.requests, 3, "one refetch once the cool-down is over");
  });
});

Deno.test("a provider that hangs is given up after the fetch timeout: the request ends in 401", async () => {
  const key = await signingKey("EdDSA", "ed");
  await withProvider([key], {}, async ({ app, fetchErrors, server, timers }) => {
    server.behave({ kind: "hang" });
    const token = await signWith(key, claims());
    const pending = answer(app, token);
    await waitFor("the key-set request", () => server.requests === 1);
    timers.advance(5_000);
    const [code, why] = await settles("the request once the fetch timed out", pending);
    deepStrictEqual(code, 401);
    match(why, /key set is unavailable/);
    match(fetchErrors[0], /no complete answer within 5000 ms/);
    // Within the cool-down nothing waits on the provider again.
    deepStrictEqual((await answer(app, token))[0], 401);
    deepStrictEqual(server.requests, 1);
    // Once it answers, the next fetch (after the cool-down) brings the keys.
    server.publish(key);
    timers.advance(30_000);
    deepStrictEqual(await answer(app, token), [200, TENANT_A]);
  });
});

Deno.test("a provider answering garbage keeps the cached keys and accepts nothing new", async () => {
  const [cached, rotated] = await Promise.all([
    signingKey("ES256", "cached"),
    signingKey("ES256", "rotated"),
  ]);
  await withProvider([cached], {}, async ({ app, fetchErrors, logLines, server, timers }) => {
    deepStrictEqual(await answer(app, await signWith(cached, claims())), [200, TENANT_A]);
    const garbage = [
      { kind: "body", body: "<html>login</html>" },
      { kind: "body", body: '{"keys": "none"}' },
      { kind: "body", body: "[1, 2, 3]" },
      { kind: "status", status: 500 },
      { kind: "body", body: JSON.stringify({ keys: [], padding: "x".repeat(300_000) }) },
      { kind: "chunked", body: JSON.stringify({ keys: [], padding: "x".repeat(300_000) }) },
    ] as const;
    for (const reply of garbage) {
      timers.advance(30_000);
      server.behave(reply);
      const [code] = await answer(app, await signWith(rotated, claims()));
      deepStrictEqual(code, 401, JSON.stringify(reply).slice(0, 60));
      deepStrictEqual(await answer(app, await signWith(cached, claims())), [200, TENANT_A]);
    }
    deepStrictEqual(fetchErrors.length, 6, fetchErrors.join("\n"));
    match(fetchErrors[0], /not JSON/);
    match(fetchErrors[1], /not a key set/);
    match(fetchErrors[2], /not a key set/);
    match(fetchErrors[3], /HTTP 500/);
    match(fetchErrors[4], /more than 262144 bytes/);
    match(fetchErrors[5], /more than 262144 bytes/);
    ok(!logLines.some((l) => l.includes('"status":500')), "never a 500");
    timers.advance(30_000);
    server.publish(cached, rotated);
    deepStrictEqual(await answer(app, await signWith(rotated, claims())), [200, TENANT_A]);
    // A set with an unusable key: that key's tokens are refused, the others still verify.
    const broken = await signingKey("ES256", "broken");
    timers.advance(30_000);
    server.behave({
      kind: "keys",
      keys: [cached.jwk, rotated.jwk, { ...broken.jwk, x: "AA", y: "AA" }],
    });
    const [code, why] = await answer(app, await signWith(broken, claims()));
    deepStrictEqual(code, 401);
    match(why, /signature does not verify/);
    deepStrictEqual(await answer(app, await signWith(rotated, claims())), [200, TENANT_A]);
  });
});

Deno.test("a key set past its maximum age is refreshed behind the scenes: a provider down then refuses nothing it verified", async () => {
  const key = await signingKey("RS256", "aged");
  await withProvider([key], {}, async ({ app, fetchErrors, server, timers }) => {
    const token = await signWith(key, claims());
    deepStrictEqual(await answer(app, token), [200, TENANT_A]);
    server.behave({ kind: "status", status: 503 });
    timers.advance(600_000);
    deepStrictEqual(await answer(app, token), [200, TENANT_A], "verified with the cached set");
    await waitFor("the background refresh", () => fetchErrors.length === 1);
    match(fetchErrors[0], /HTTP 503/);
    deepStrictEqual(server.requests, 2, "the first fetch, then one refresh");
    deepStrictEqual(await answer(app, token), [200, TENANT_A]);
    deepStrictEqual(server.requests, 2, "no refetch per request within the cool-down");
  });
});

Deno.test("an unreachable provider crashes nothing and accepts nothing; HS256 tokens still work", async () => {
  const key = await signingKey("RS256", "k");
  await withTwoTenants(async (db) => {
    // The verifier the app builds from its configuration, logging to the app's log.
    const { app, logLines } = makeApp(db, {
      API_JWKS_URL: `http://127.0.0.1:${freePort()}/jwks.json`,
    });
    const [code, why] = await answer(app, await signWith(key, claims()));
    deepStrictEqual(code, 401);
    match(why, /key set is unavailable/);
    const warnings = logLines.map((l) => JSON.parse(l)).filter((l) => l.level === "warn");
    deepStrictEqual(warnings.map((l) => l.msg), ["identity provider key set fetch failed"]);
    match(warnings[0].error, /127\.0\.0\.1/);
    deepStrictEqual(await answer(app, await tenantToken(TENANT_A)), [200, TENANT_A]);
  });
});

Deno.test("API_JWKS_ISSUER and API_JWKS_AUDIENCE pin identity-provider tokens only", async () => {
  const key = await signingKey("ES256", "pinned");
  await withProvider([key], {
    API_JWKS_ISSUER: "https://idp.example/realms/ops",
    API_JWKS_AUDIENCE: "session-audit",
  }, async ({ app }) => {
    const good = { iss: "https://idp.example/realms/ops", aud: "session-audit" };
    deepStrictEqual(await answer(app, await signWith(key, claims(good))), [200, TENANT_A]);
    deepStrictEqual(
      await answer(
        app,
        await signWith(key, claims({ ...good, aud: ["billing", "session-audit"] })),
      ),
      [200, TENANT_A],
    );
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{ ...good, iss: "https://evil.example/realms/ops" }, /iss is not the one/],
      [{ ...good, iss: undefined }, /no iss claim/],
      [{ ...good, aud: "billing" }, /aud is not the one/],
      [{ ...good, aud: undefined }, /no aud claim/],
    ];
    for (const [pinned, reason] of refusals) {
      const [code, why] = await answer(app, await signWith(key, claims(pinned)));
      deepStrictEqual(code, 401, JSON.stringify(pinned));
      match(why, reason);
    }
    // The shared-secret tokens (this service's, the platform's) carry no iss or aud.
    deepStrictEqual(await answer(app, await tenantToken(TENANT_A)), [200, TENANT_A]);
  });
});

Deno.test("a key set instead of the HS256 secret: provider tokens read and page, HS256 tokens are refused", async () => {
  const key = await signingKey("RS256", "only");
  await withProvider([key], {
    API_JWT_SECRET: undefined,
    API_CURSOR_SECRET: "cursor-secret-0123456789-abcdefghijkl",
  }, async ({ app }) => {
    const token = await signWith(key, claims());
    const { ids, pages } = await walk(app, token, "limit=1");
    deepStrictEqual([ids.length, pages], [3, 3]);
    const [code, why] = await answer(app, await tenantToken(TENANT_A));
    deepStrictEqual(code, 401);
    match(why, /HS256 tokens are not accepted \(no API_JWT_SECRET\)/);
  });
});

Deno.test("the app fetches the key set as it starts, so the first token does not wait for it", async () => {
  const key = await signingKey("ES256", "early");
  const server = serveJwks(key);
  try {
    await withTwoTenants(async (db) => {
      const { app } = makeApp(db, { API_JWKS_URL: server.url });
      await waitFor("the key-set fetch at start-up", () => server.requests === 1);
      deepStrictEqual(await answer(app, await signWith(key, claims())), [200, TENANT_A]);
      deepStrictEqual(server.requests, 1);
    });
  } finally {
    await server.close();
  }
});

/**
 * Identity-provider tokens (RS256, ES256, EdDSA) verified with the
 * provider's JSON Web Key Set, served by a real HTTP server on the loopback:
 * caching, rotation without a restart, the rate-limited refetch of unknown
 * `kid`s, a provider that hangs, answers garbage or is down, `iss`/`aud`
 * pinning, and a key set instead of the HS256 secret.
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";
import { createTokenVerifier } from "../src/api/token_verifier.ts";
import type { Clock } from "../src/clock.ts";
import type { Database } from "../src/store/client.ts";
import { FakeTimers } from "../src/testing/fake_timers.ts";
import {
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
  walk,
} from "./api_fixture.ts";
import { freePort, settles, waitFor } from "./harness.ts";
import { type JwksServer, serveJwks, signingKey, signWith } from "./idp_fixture.ts";

const LIST = "/v1/session-ends?limit=500";
const now = () => Math.floor(Date.now() / 1000);
const claims = (extra: Record<string, unknown> = {}) => ({
  tenant_id: TENANT_A,
  sub: "idp|user-1",
  iat: now(),
  exp: now() + 300,
  ...extra,
});

interface JwksApp {
  app: ReturnType<typeof makeApp>["app"];
  logLines: string[];
  /** The key-set cache's timers: its cool-down and timeout move only when told. */
  timers: FakeTimers;
  /** Why key-set fetches failed, in order. */
  fetchErrors: string[];
}

function jwksApp(
  db: Database,
  url: string,
  env: Record<string, string | undefined> = {},
  clock?: Clock,
): JwksApp {
  const timers = new FakeTimers();
  const fetchErrors: string[] = [];
  const { app, logLines } = makeApp(db, { API_JWKS_URL: url, ...env }, (config) => ({
    tokens: createTokenVerifier(config.apiJwtSecret, config.apiAuth, {
      timers,
      clock,
      onJwksError: (error) => fetchErrors.push(error.message),
    }),
  }));
  return { app, logLines, timers, fetchErrors };
}

async function status(app: JwksApp["app"], token: string): Promise<[number, string]> {
  const res = await get(app, LIST, token);
  if (res.status === 200) {
    const body = await res.json() as PageBody;
    return [200, [...new Set(body.items.map((i) => i.tenant_id))].sort().join(",")];
  }
  return [res.status, (await res.json() as ErrorBodyJson).error.message];
}

async function withStore(
  body: (db: Database) => Promise<void>,
): Promise<void> {
  const store = await openTestDb();
  try {
    await insertRows(store.db, generateRows(TENANT_A, 3, 1, 0xc1));
    await insertRows(store.db, generateRows(TENANT_B, 2, 2, 0xc2));
    await body(store.db);
  } finally {
    await store.close();
  }
}

async function withServer(server: JwksServer, body: () => Promise<void>): Promise<void> {
  try {
    await body();
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
  const server = serveJwks(...keys);
  await withServer(server, () =>
    withStore(async (db) => {
      const { app, logLines } = jwksApp(db, server.url);
      for (const key of keys) {
        deepStrictEqual(await status(app, await signWith(key, claims())), [200, TENANT_A], key.alg);
        deepStrictEqual(
          await status(app, await signWith(key, claims({ tenant_id: undefined, role: "admin" }))),
          [200, `${TENANT_A},${TENANT_B}`],
          key.alg,
        );
      }
      deepStrictEqual(await status(app, await tenantToken(TENANT_B)), [200, TENANT_B]);
      deepStrictEqual(server.requests, 1, "one fetch serves every request");
      const line = JSON.parse(logLines.findLast((l) => l.includes('"http request"'))!);
      ok(!("sub" in line), "the service token has no sub");
      ok(logLines.some((l) => l.includes('"sub":"idp|user-1"')), "the provider's sub is logged");
    }));
});

Deno.test("a key rotated at the provider is used without a restart; a retired key stops verifying", async () => {
  const [first, second, third] = await Promise.all([
    signingKey("ES256", "2026-01"),
    signingKey("ES256", "2026-02"),
    signingKey("RS256", "2026-03"),
  ]);
  const server = serveJwks(first);
  await withServer(server, () =>
    withStore(async (db) => {
      const { app, timers } = jwksApp(db, server.url);
      deepStrictEqual(await status(app, await signWith(first, claims())), [200, TENANT_A]);
      deepStrictEqual(server.requests, 1);

      // Rotation, some time later: the provider publishes the new key and retires the old one.
      timers.advance(30_000);
      server.publish(second);
      deepStrictEqual(await status(app, await signWith(second, claims())), [200, TENANT_A]);
      deepStrictEqual(server.requests, 2, "the unknown kid fetched the set again");
      const [retired, why] = await status(app, await signWith(first, claims()));
      deepStrictEqual(retired, 401);
      match(why, /no key of the identity provider's key set matches/);

      // A key retired without a new kid in sight goes when the set is refreshed (max age).
      timers.advance(30_000);
      server.publish(second, third);
      deepStrictEqual(await status(app, await signWith(third, claims())), [200, TENANT_A]);
      server.publish(third);
      deepStrictEqual(await status(app, await signWith(second, claims())), [200, TENANT_A]);
      timers.advance(600_000);
      const before = server.requests;
      deepStrictEqual(await status(app, await signWith(third, claims())), [200, TENANT_A]);
      await waitFor("the background refresh", async () =>
        server.requests > before &&
        (await status(app, await signWith(second, claims())))[0] === 401);
    }));
});

Deno.test("an unknown kid is refused and fetches the set at most once per cool-down", async () => {
  const [published, attacker] = await Promise.all([
    signingKey("RS256", "published"),
    signingKey("RS256", "attacker"),
  ]);
  const server = serveJwks(published);
  await withServer(server, () =>
    withStore(async (db) => {
      const { app, timers } = jwksApp(db, server.url);
      deepStrictEqual(await status(app, await signWith(published, claims())), [200, TENANT_A]);
      timers.advance(30_000);
      const [refused, why] = await status(app, await signWith(attacker, claims()));
      deepStrictEqual(refused, 401);
      match(why, /no key .* matches the token's kid/);
      deepStrictEqual(server.requests, 2, "the first fetch, then one refetch for the unknown kid");
      for (let i = 0; i < 20; i++) {
        const forged = await signWith(attacker, claims(), { kid: `forged-${i}` });
        deepStrictEqual((await status(app, forged))[0], 401);
      }
      deepStrictEqual(server.requests, 2, "no refetch within the cool-down");
      deepStrictEqual(await status(app, await signWith(published, claims())), [200, TENANT_A]);
      timers.advance(30_000);
      deepStrictEqual((await status(app, await signWith(attacker, claims())))[0], 401);
      deepStrictEqual(server.requests, 3, "one refetch once the cool-down is over");
    }));
});

Deno.test("a provider that hangs is given up after the fetch timeout: the request ends in 401", async () => {
  const key = await signingKey("EdDSA", "ed");
  const server = serveJwks(key);
  server.behave({ kind: "hang" });
  await withServer(server, () =>
    withStore(async (db) => {
      const { app, timers, fetchErrors } = jwksApp(db, server.url);
      const token = await signWith(key, claims());
      const pending = status(app, token);
      await waitFor("the key-set request", () => server.requests === 1);
      timers.advance(5_000);
      const [code, why] = await settles("the request once the fetch timed out", pending);
      deepStrictEqual(code, 401);
      match(why, /key set is unavailable/);
      match(fetchErrors[0], /no complete answer within 5000 ms/);
      // Within the cool-down nothing waits on the provider again.
      deepStrictEqual((await status(app, token))[0], 401);
      deepStrictEqual(server.requests, 1);
      // Once it answers, the next fetch (after the cool-down) brings the keys.
      server.publish(key);
      timers.advance(30_000);
      deepStrictEqual(await status(app, token), [200, TENANT_A]);
    }));
});

Deno.test("a provider answering garbage keeps the cached keys and accepts nothing new", async () => {
  const [cached, rotated] = await Promise.all([
    signingKey("ES256", "cached"),
    signingKey("ES256", "rotated"),
  ]);
  const server = serveJwks(cached);
  await withServer(server, () =>
    withStore(async (db) => {
      const { app, timers, fetchErrors, logLines } = jwksApp(db, server.url);
      deepStrictEqual(await status(app, await signWith(cached, claims())), [200, TENANT_A]);
      const answers = [
        { kind: "body", body: "<html>login</html>" },
        { kind: "body", body: '{"keys": "none"}' },
        { kind: "body", body: "[1, 2, 3]" },
        { kind: "status", status: 500 },
        { kind: "body", body: JSON.stringify({ keys: [], padding: "x".repeat(300_000) }) },
        { kind: "chunked", body: JSON.stringify({ keys: [], padding: "x".repeat(300_000) }) },
      ] as const;
      for (const answer of answers) {
        timers.advance(30_000);
        server.behave(answer);
        const [code] = await status(app, await signWith(rotated, claims()));
        deepStrictEqual(code, 401, JSON.stringify(answer).slice(0, 60));
        deepStrictEqual(await status(app, await signWith(cached, claims())), [200, TENANT_A]);
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
      deepStrictEqual(await status(app, await signWith(rotated, claims())), [200, TENANT_A]);
      // A set with an unusable key: that key's tokens are refused, the others still verify.
      const broken = await signingKey("ES256", "broken");
      timers.advance(30_000);
      server.behave({
        kind: "keys",
        keys: [cached.jwk, rotated.jwk, { ...broken.jwk, x: "AA", y: "AA" }],
      });
      const [code, why] = await status(app, await signWith(broken, claims()));
      deepStrictEqual(code, 401);
      match(why, /signature does not verify/);
      deepStrictEqual(await status(app, await signWith(rotated, claims())), [200, TENANT_A]);
    }));
});

Deno.test("an unreachable provider crashes nothing and accepts nothing; HS256 tokens still work", async () => {
  const key = await signingKey("RS256", "k");
  await withStore(async (db) => {
    // The verifier the app builds from its configuration, logging to the app's log.
    const { app, logLines } = makeApp(db, {
      API_JWKS_URL: `http://127.0.0.1:${freePort()}/jwks.json`,
    });
    const [code, why] = await status(app, await signWith(key, claims()));
    deepStrictEqual(code, 401);
    match(why, /key set is unavailable/);
    const warnings = logLines.map((l) => JSON.parse(l)).filter((l) => l.level === "warn");
    deepStrictEqual(warnings.map((l) => l.msg), ["identity provider key set fetch failed"]);
    match(warnings[0].error, /127\.0\.0\.1/);
    deepStrictEqual(await status(app, await tenantToken(TENANT_A)), [200, TENANT_A]);
  });
});

Deno.test("API_JWKS_ISSUER and API_JWKS_AUDIENCE pin identity-provider tokens only", async () => {
  const key = await signingKey("ES256", "pinned");
  const server = serveJwks(key);
  await withServer(server, () =>
    withStore(async (db) => {
      const { app } = jwksApp(db, server.url, {
        API_JWKS_ISSUER: "https://idp.example/realms/ops",
        API_JWKS_AUDIENCE: "session-audit",
      });
      const good = { iss: "https://idp.example/realms/ops", aud: "session-audit" };
      deepStrictEqual(await status(app, await signWith(key, claims(good))), [200, TENANT_A]);
      deepStrictEqual(
        await status(
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
        const [code, why] = await status(app, await signWith(key, claims(pinned)));
        deepStrictEqual(code, 401, JSON.stringify(pinned));
        match(why, reason);
      }
      // The shared-secret tokens (this service's, the platform's) carry no iss or aud.
      deepStrictEqual(await status(app, await tenantToken(TENANT_A)), [200, TENANT_A]);
    }));
});

Deno.test("a key set instead of the HS256 secret: provider tokens read and page, HS256 tokens are refused", async () => {
  const key = await signingKey("RS256", "only");
  const server = serveJwks(key);
  await withServer(server, () =>
    withStore(async (db) => {
      const { app } = jwksApp(db, server.url, {
        API_JWT_SECRET: undefined,
        API_CURSOR_SECRET: "cursor-secret-0123456789-abcdefghijkl",
      });
      const token = await signWith(key, claims());
      const { ids, pages } = await walk(app, token, "limit=1");
      deepStrictEqual([ids.length, pages], [3, 3]);
      const [code, why] = await status(app, await tenantToken(TENANT_A));
      deepStrictEqual(code, 401);
      match(why, /HS256 tokens are not accepted \(no API_JWT_SECRET\)/);
    }));
});

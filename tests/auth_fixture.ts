/**
 * Fixtures of the authentication tests: a database holding session ends of
 * two tenants, an app whose token verifier reads an injected clock and
 * whose key-set cache runs on fake timers, and what a request answers.
 *
 * @module
 */
import { createTokenVerifier } from "../src/api/token_verifier.ts";
import type { Clock } from "../src/clock.ts";
import type { Database } from "../src/store/client.ts";
import { FakeTimers } from "../src/testing/fake_timers.ts";
import * as api from "./api_fixture.ts";

/** The list route, every row on one page. */
export const LIST = "/v1/session-ends?limit=500";

/** An app and the parts of its token verifier that a test drives. */
export interface AuthApp {
  app: api.TestApp["app"];
  logLines: string[];
  /** The key-set cache's timers: its cool-down, maximum age and fetch timeout move only when told. */
  timers: FakeTimers;
  /** Why key-set fetches failed, in order. */
  fetchErrors: string[];
}

/**
 * An app over `db` with `env` (over the fixture's `API_JWT_SECRET`) whose
 * verifier compares token times with `clock` (default: the wall clock).
 */
export function authApp(
  db: Database,
  env: Record<string, string | undefined> = {},
  clock?: Clock,
): AuthApp {
  const timers = new FakeTimers();
  const fetchErrors: string[] = [];
  const { app, logLines } = api.makeApp(db, env, (config) => ({
    tokens: createTokenVerifier(config.apiJwtSecret, config.apiAuth, {
      clock,
      timers,
      onJwksError: (error) => fetchErrors.push(error.message),
    }),
  }));
  return { app, logLines, timers, fetchErrors };
}

/**
 * What `GET path` with `token` answers: `[200, "<tenants seen, sorted, comma-separated>"]`,
 * or `[status, "<WWW-Authenticate error> <message>"]`.
 */
export async function answer(
  app: AuthApp["app"],
  token: string,
  path = LIST,
): Promise<[number, string]> {
  const res = await api.get(app, path, token);
  if (res.status === 200) {
    const body = await res.json() as api.PageBody;
    return [200, [...new Set(body.items.map((item) => item.tenant_id))].sort().join(",")];
  }
  const challenge = /error="([a-z_]+)"/.exec(res.headers.get("WWW-Authenticate") ?? "")?.[1];
  return [res.status, `${challenge} ${(await res.json() as api.ErrorBodyJson).error.message}`];
}

/** Both tenants of the fixture, as {@linkcode answer} lists them. */
export const BOTH_TENANTS = `${api.TENANT_A},${api.TENANT_B}`;

/** Runs `body` on a fresh database holding a few session ends of tenants A and B. */
export async function withTwoTenants(body: (db: Database) => Promise<void>): Promise<void> {
  const store = await api.openTestDb();
  try {
    await api.insertRows(store.db, api.generateRows(api.TENANT_A, 3, 1, 0xc1));
    await api.insertRows(store.db, api.generateRows(api.TENANT_B, 2, 2, 0xc2));
    await body(store.db);
  } finally {
    await store.close();
  }
}

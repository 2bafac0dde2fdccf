/**
 * The versioned read API under `/v1`. (Placeholder until the read API lands:
 * every route answers 401.)
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps } from "./app.ts";

/** Routes mounted under `/v1`. */
export function v1Routes(_deps: AppDeps): Hono {
  const app = new Hono();
  app.all("*", (c) =>
    c.json(
      { error: { code: "unauthorized", message: "the read API is not available yet", param: null } },
      401,
      { "WWW-Authenticate": 'Bearer realm="session-audit"' },
    ));
  return app;
}

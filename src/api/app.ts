/**
 * The HTTP application: operational routes at the root and the versioned
 * read API under `/v1`.
 *
 * @module
 */
import { Hono } from "hono";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Readiness } from "../readiness.ts";
import type { Database } from "../store/client.ts";
import { opsRoutes } from "./ops.ts";
import { v1Routes } from "./v1.ts";

/** What the HTTP application needs from the rest of the process. */
export interface AppDeps {
  config: Config;
  db: Database;
  readiness: Readiness;
  metrics: Metrics;
  logger: Logger;
}

/** Builds the Hono application. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.route("/", opsRoutes(deps));
  app.route("/v1", v1Routes(deps));
  return app;
}

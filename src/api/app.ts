/**
 * The HTTP application: operational routes at the root and the versioned
 * read API under `/v1`.
 *
 * @module
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import type { Clock, Timers } from "../clock.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Readiness } from "../readiness.ts";
import type { Keyring } from "../integrity/keyring.ts";
import type { CheckpointCopy } from "../integrity/verify.ts";
import type { Database } from "../store/client.ts";
import type { StoredSignal } from "../store/stored_signal.ts";
import { accessLog } from "./access_log.ts";
import { docsContentSecurityPolicy, docsRoutes } from "./docs.ts";
import { errorHandler, notFoundHandler } from "./errors.ts";
import { opsRoutes } from "./ops.ts";
import { requestMetrics } from "./request_metrics.ts";
import { startTokenVerifier, type TokenVerifier } from "./token_verifier.ts";
import { v1Routes, type V1RoutesOptions } from "./v1.ts";

/** What the HTTP application needs from the rest of the process. */
export interface AppDeps {
  config: Config;
  db: Database;
  readiness: Readiness;
  metrics: Metrics;
  logger: Logger;
  /** Told by the ingest loop after each commit that stored rows; wakes live feeds. */
  stored?: StoredSignal;
  /** Aborted at process shutdown: ends live feeds so the server can stop. */
  shutdown?: AbortSignal;
  /** Aborted when the shutdown deadline cuts long responses (exports, integrity walks). */
  cutoff?: AbortSignal;
  /** The time of heavy queries' budgets and live feeds' heartbeats (tests drive it). @default systemTimers */
  timers?: Timers;
  /** The wall clock of dead-letter replays (tests set it). @default wallClock */
  clock?: Clock;
  /** Makes the record of who is using the read API (tests watch it). */
  activity?: V1RoutesOptions["activity"];
  /** Live-feed timing (tests shorten it). */
  feed?: { pollMs?: number; heartbeatMs?: number };
  /** Verifies the signatures of chain checkpoints in `/v1/integrity`. */
  keyring?: Keyring;
  /** The independent copy of the checkpoints, compared by `/v1/integrity` when it can be read. */
  checkpointCopy?: CheckpointCopy;
  /** Verifies bearer tokens (default: built from the configuration). */
  tokens?: TokenVerifier;
}

/** Builds the Hono application. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.use(
    requestMetrics({ metrics: deps.metrics }),
    requestId(),
    accessLog({ logger: deps.logger }),
  );
  // Before secureHeaders, so the docs page's policy (inline styles) is the one kept.
  app.use("/docs", docsContentSecurityPolicy());
  app.use(
    secureHeaders({
      contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    }),
  );
  if (deps.config.apiCorsOrigins.length > 0) {
    app.use(
      "/v1/*",
      cors({
        origin: deps.config.apiCorsOrigins,
        allowMethods: ["GET"],
        allowHeaders: ["Authorization"],
        exposeHeaders: ["Link", "X-Request-Id", "Retry-After"],
        maxAge: 600,
      }),
    );
  }
  app.onError(errorHandler({
    report: (err, c) =>
      deps.logger.error("unexpected error", { request_id: c.get("requestId"), error: err }),
  }));
  app.notFound(notFoundHandler);
  app.route("/", opsRoutes(deps));
  app.route("/", docsRoutes());
  // An ingest-only worker serves the operational routes, not the read API.
  if (deps.config.role !== "ingest") {
    const tokens = deps.tokens ?? startTokenVerifier(deps.config, deps.logger);
    const { apiAuth } = deps.config;
    app.route(
      "/v1",
      v1Routes({
        ...deps,
        secret: apiAuth.cursorSecret,
        tokens,
        claims: apiAuth,
        skewMs: deps.config.clockSkewSeconds * 1000,
        limits: deps.config.limits,
      }),
    );
  }
  return app;
}

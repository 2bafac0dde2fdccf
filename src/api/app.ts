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
import type { Config } from "../config.ts";
import type { Readiness } from "../readiness.ts";
import { accessLog } from "./access_log.ts";
import { docsContentSecurityPolicy, docsRoutes } from "./docs.ts";
import { errorHandler, notFoundHandler } from "./errors.ts";
import { opsRoutes } from "./ops.ts";
import { requestMetrics } from "./request_metrics.ts";
import { startTokenVerifier } from "./token_verifier.ts";
import { v1Routes, type V1RoutesOptions } from "./v1.ts";

/**
 * What the HTTP application needs from the rest of the process: the
 * configuration and readiness, and what the read API takes as given (its
 * options, documented on {@linkcode V1RoutesOptions}).
 */
export interface AppDeps extends
  Pick<
    V1RoutesOptions,
    | "db"
    | "metrics"
    | "logger"
    | "stored"
    | "shutdown"
    | "cutoff"
    | "timers"
    | "clock"
    | "activity"
    | "feed"
    | "keyring"
    | "checkpointCopy"
  >,
  Partial<Pick<V1RoutesOptions, "tokens">> {
  /** The process's validated configuration. */
  config: Config;
  /** What `/readyz` reports. */
  readiness: Readiness;
}

/**
 * Builds the Hono application; without `tokens`, the token verifier is
 * built from the configuration.
 */
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

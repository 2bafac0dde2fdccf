/**
 * The access log: one JSON line per HTTP request, carrying its request id
 * and, for an authenticated request, the token's subject (`sub`).
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { RequestIdVariables } from "hono/request-id";
import type { Logger } from "../log.ts";
import type { AuthScope } from "./claims.ts";

/** Options of {@linkcode accessLog}. */
export interface AccessLogOptions {
  /** Where the lines go (level `info`; `debug` for the quiet paths). */
  logger: Logger;
  /**
   * Paths polled by machines (probes, scrapers) whose successful answers are
   * logged at `debug` so they do not drown the rest.
   * @default ["/healthz", "/readyz", "/metrics"]
   */
  quietPaths?: readonly string[];
}

/**
 * Middleware that logs method, path, status, duration, request id and the
 * token's `sub` (when it has one) once the response is ready. Query strings
 * and headers are not logged.
 */
export function accessLog(
  options: AccessLogOptions,
): MiddlewareHandler<{ Variables: RequestIdVariables & { auth?: AuthScope } }> {
  const quiet = new Set(options.quietPaths ?? ["/healthz", "/readyz", "/metrics"]);
  return async function accessLogLine(c, next) {
    const started = performance.now();
    await next();
    const level = quiet.has(c.req.path) && c.res.status < 400 ? "debug" : "info";
    options.logger[level]("http request", {
      request_id: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
      sub: c.get("auth")?.subject,
    });
  };
}

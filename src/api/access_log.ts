/**
 * The access log: one JSON line per HTTP request, carrying its request id.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { RequestIdVariables } from "hono/request-id";
import type { Logger } from "../log.ts";

/** Options of {@linkcode accessLog}. */
export interface AccessLogOptions {
  /** Where the lines go (level `info`). */
  logger: Logger;
}

/**
 * Middleware that logs method, path, status, duration and request id once
 * the response is ready. Query strings and headers are not logged.
 */
export function accessLog(
  options: AccessLogOptions,
): MiddlewareHandler<{ Variables: RequestIdVariables }> {
  return async function accessLogLine(c, next) {
    const started = performance.now();
    await next();
    options.logger.info("http request", {
      request_id: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
    });
  };
}

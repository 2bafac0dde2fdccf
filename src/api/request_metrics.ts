/**
 * The HTTP request-duration histogram: each request observed by the
 * pattern of the route that answered it and the class of its status.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Histogram } from "../histogram.ts";
import type { Metrics } from "../metrics.ts";

/** The histogram {@linkcode requestMetrics} observes. */
export const REQUEST_DURATION = "session_audit_http_request_duration_seconds";

/** Options of {@linkcode requestMetrics}. */
export interface RequestMetricsOptions {
  /** Where `session_audit_http_request_duration_seconds` is kept. */
  metrics: Metrics;
}

/**
 * A route pattern as a label: a path parameter's constraint is left out
 * (`/v1/session-ends/:session_id{[0-9a-f…]}` → `/v1/session-ends/:session_id`).
 */
export function routeLabel(pattern: string): string {
  return pattern.split("/").map((s) => s.startsWith(":") ? s.replace(/\{.*$/, "") : s).join("/");
}

/**
 * Middleware that observes each request's duration, until its response is
 * ready (a stream's headers, not its end), in
 * `session_audit_http_request_duration_seconds{route,status_class}`.
 * `route` is the pattern of the route that answered, never the requested
 * path, so the series stay few: `/v1/*` when authentication refused the
 * request, `/*` when no route has its path. `status_class` is `2xx`…`5xx`.
 */
export function requestMetrics({ metrics }: RequestMetricsOptions): MiddlewareHandler {
  /** Per route pattern, the series of each status class (index 1 to 5), created on first use. */
  const byRoute = new Map<string, Array<Histogram | undefined>>();
  return async function requestDuration(c, next) {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const pattern = routePath(c);
    let series = byRoute.get(pattern);
    if (series === undefined) {
      series = [];
      byRoute.set(pattern, series);
    }
    const statusClass = Math.min(5, Math.max(1, Math.floor(c.res.status / 100)));
    (series[statusClass] ??= metrics.histogram(REQUEST_DURATION, {
      route: routeLabel(pattern),
      status_class: `${statusClass}xx`,
    })).observe(seconds);
  };
}

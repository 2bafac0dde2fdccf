/**
 * Operational routes: liveness, readiness and Prometheus metrics.
 *
 * @module
 */
import { Hono } from "hono";
import type { Metrics } from "../metrics.ts";
import type { Readiness } from "../readiness.ts";
import type { Database } from "../store/client.ts";

/** How long `/readyz` waits for the database before calling it down. */
const DB_PING_TIMEOUT_MS = 2_000;

/** Options of {@linkcode opsRoutes}. */
export interface OpsRoutesOptions {
  /** Pinged by `/readyz`. */
  db: Database;
  /** What else keeps the process from being ready (stream, consumer, NATS). */
  readiness: Readiness;
  /** Rendered by `/metrics`; `/readyz` and `/metrics` update `session_audit_ready`. */
  metrics: Metrics;
}

/** `GET /healthz`, `GET /readyz`, `GET /metrics`. */
export function opsRoutes({ db, readiness, metrics }: OpsRoutesOptions): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const problems = readiness.problems();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        db.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("no answer within 2 s")),
            DB_PING_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (err) {
      problems.database ??= `database unavailable: ${(err as Error).message}`;
    } finally {
      clearTimeout(timer);
    }
    const ready = Object.keys(problems).length === 0;
    metrics.set("session_audit_ready", ready ? 1 : 0);
    return ready
      ? c.json({ status: "ready" })
      : c.json({ status: "not_ready", reasons: problems }, 503);
  });
  app.get("/metrics", (c) => {
    metrics.set("session_audit_ready", readiness.ready ? 1 : 0);
    return c.body(metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    });
  });
  return app;
}

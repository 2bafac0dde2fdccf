/**
 * The bare peer of the read benchmark: a minimal Hono + `@libsql/client`
 * app answering `GET /v1/session-ends?limit=N` for a tenant token, with the
 * same HS256 verification (jose's `jwtVerify`, `exp` required), the same
 * statement and the same item fields as the service — and nothing else (no
 * middleware, no signed cursor, no validation beyond `limit`, V8's default
 * flags). The benchmark compares the service's requests per second with it.
 *
 * Run: `DATABASE_URL=file:… PORT=… API_JWT_SECRET=… deno run -A bench/peer.ts`.
 *
 * @module
 */
import { createClient } from "@libsql/client";
import { Hono } from "hono";
import { jwtVerify } from "jose";
import { listSessionEndsSql, sortKeyOf, toItem } from "../src/store/queries.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Builds the peer's app on a database URL and an HS256 secret. */
export async function peerApp(databaseUrl: string, secret: string): Promise<Hono> {
  const db = createClient({ url: databaseUrl });
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const app = new Hono();
  app.get("/healthz", (c) => c.text("ok"));
  app.get("/v1/session-ends", async (c) => {
    const token = c.req.header("Authorization")?.match(/^Bearer +(\S+)$/i)?.[1];
    if (!token) return c.json({ error: "unauthorized" }, 401);
    let tenantId: unknown;
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: ["HS256"],
        requiredClaims: ["exp"],
        clockTolerance: 60,
      });
      tenantId = payload.tenant_id;
    } catch {
      return c.json({ error: "unauthorized" }, 401);
    }
    if (typeof tenantId !== "string" || !UUID.test(tenantId)) {
      return c.json({ error: "forbidden" }, 403);
    }
    const limit = Number(c.req.query("limit") ?? 50);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      return c.json({ error: "limit" }, 400);
    }
    const rs = await db.execute(
      listSessionEndsSql({ tenantId: tenantId.toLowerCase() }, { limit }),
    );
    const rows = rs.rows.slice(0, limit);
    // An unsigned position: the peer does what a bare app would.
    const last = rows.length > 0 ? sortKeyOf(rows[rows.length - 1]) : undefined;
    const next = rs.rows.length > limit && last ? `${last.sortTime}.${last.id}` : null;
    return c.json({ items: rows.map(toItem), next_cursor: next });
  });
  return app;
}

if (import.meta.main) {
  const env = (name: string) => {
    const value = Deno.env.get(name);
    if (value === undefined) throw new Error(`bench/peer.ts: ${name} is not set`);
    return value;
  };
  const app = await peerApp(env("DATABASE_URL"), env("API_JWT_SECRET"));
  Deno.serve({ hostname: "127.0.0.1", port: Number(env("PORT")), onListen() {} }, app.fetch);
}

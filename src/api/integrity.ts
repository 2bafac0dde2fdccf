/**
 * `GET /v1/integrity`: verifies the hash chain of the caller's tenant (an
 * administrator: one tenant with `?tenant_id=`, or every tenant). The whole
 * walk has the time budget of one heavy query.
 *
 * @module
 */
import { Hono } from "hono";
import type { CheckpointSigner } from "../integrity/signing.ts";
import { verifyTenant, verifyTenants } from "../integrity/verify.ts";
import type { Database, RowSource } from "../store/client.ts";
import type { AuthEnv } from "./auth.ts";
import { parseGetQuery } from "./query.ts";
import { type QueryBudget, withinBudget } from "./query_budget.ts";
import { PRIVATE, searchParams, tenantFor, valid } from "./request.ts";

/** Options of {@linkcode integrityRoutes}. */
export interface IntegrityRoutesOptions {
  db: Database;
  /** Verifies checkpoint signatures; without it only the chain itself is checked. */
  signer?: CheckpointSigner;
  /** The walk's time budget, and the shutdown cut-off. */
  budget: QueryBudget;
}

/** `GET /` relative to where it is mounted. */
export function integrityRoutes({ db, signer, budget }: IntegrityRoutesOptions): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.get("/", async (c) => {
    const query = valid(parseGetQuery(searchParams(c)));
    const tenantId = tenantFor(c.get("auth"), query.tenantId);
    const walk = <T>(verify: (source: RowSource) => Promise<T>) =>
      withinBudget(budget, c.req.raw.signal, (signal) =>
        verify({
          execute: async (stmt) => ({ rows: await db.readInterruptible(stmt, signal) }),
        }));
    if (tenantId === undefined) {
      return c.json(await walk((source) => verifyTenants(source, signer)), 200, PRIVATE);
    }
    const result = await walk((source) => verifyTenant(source, tenantId, signer));
    return c.json(
      {
        ok: result.ok,
        rows_checked: result.rows_checked,
        first_broken: result.first_broken,
        head: result.head,
        head_seq: result.head_seq,
        checkpoints_verified: result.checkpoints_verified,
        tenant_id: tenantId,
      },
      200,
      PRIVATE,
    );
  });
  return app;
}

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
import { tenantKey } from "./fair_share.ts";
import { type QueryBudget, withinBudget } from "./query_budget.ts";
import type { FairTurns, Release } from "../fair_turns.ts";
import { PRIVATE, searchParams, tenantFor, valid } from "./request.ts";

/** Options of {@linkcode integrityRoutes}. */
export interface IntegrityRoutesOptions {
  db: Database;
  /** Verifies checkpoint signatures; without it only the chain itself is checked. */
  signer?: CheckpointSigner;
  /** The walk's time budget, and the shutdown cut-off. */
  budget: QueryBudget;
  /** Turns for hashing, shared by the read API's bulk work. */
  turns: FairTurns;
}

/** `GET /` relative to where it is mounted. */
export function integrityRoutes(
  { db, signer, budget, turns }: IntegrityRoutesOptions,
): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.get("/", async (c) => {
    const query = valid(parseGetQuery(searchParams(c)));
    const tenantId = tenantFor(c.get("auth"), query.tenantId);
    const tenant = tenantKey(c.get("auth"));
    const walk = <T>(verify: (source: RowSource) => Promise<T>) =>
      withinBudget(budget, c.req.raw.signal, async (signal) => {
        // The walk hashes each chunk between two reads: it holds a turn from the moment a
        // chunk is handed over until it asks for the next one.
        let release: Release = () => {};
        try {
          return await verify({
            async execute(stmt) {
              release();
              const rows = await db.readInterruptible(stmt, signal, tenant);
              release = await turns.take(tenant);
              return { rows };
            },
          });
        } finally {
          release();
        }
      });
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

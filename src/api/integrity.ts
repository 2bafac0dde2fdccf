/**
 * `GET /v1/integrity`: verifies the hash chain of the caller's tenant (an
 * administrator: one tenant with `?tenant_id=`, or every tenant).
 *
 * @module
 */
import { Hono } from "hono";
import { type Keyring, NO_KEYS } from "../integrity/keyring.ts";
import { type CheckpointCopy, verifyTenant, verifyTenants } from "../integrity/verify.ts";
import type { Database } from "../store/client.ts";
import type { AuthEnv } from "./auth.ts";
import { parseGetQuery } from "./query.ts";
import { PRIVATE, searchParams, tenantFor, valid } from "./request.ts";

/** Options of {@linkcode integrityRoutes}. */
export interface IntegrityRoutesOptions {
  db: Database;
  /** Verifies checkpoint signatures; without a key only the chains themselves are checked. */
  keyring?: Keyring;
  /** The independent copy of the checkpoints, compared when given. */
  copy?: CheckpointCopy;
}

/** `GET /` relative to where it is mounted. */
export function integrityRoutes(
  { db, keyring = NO_KEYS, copy }: IntegrityRoutesOptions,
): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.get("/", async (c) => {
    const query = valid(parseGetQuery(searchParams(c)));
    const tenantId = tenantFor(c.get("auth"), query.tenantId);
    if (tenantId === undefined) {
      return c.json(await verifyTenants(db, keyring, { copy }), 200, PRIVATE);
    }
    const result = await verifyTenant(db, tenantId, keyring, copy);
    return c.json(
      {
        ok: result.ok,
        rows_checked: result.rows_checked,
        first_broken: result.first_broken,
        head: result.head,
        head_seq: result.head_seq,
        checkpoints_verified: result.checkpoints_verified,
        checkpoint_seq: result.checkpoint_seq,
        copy_checked: result.copy_checked,
        tenant_id: tenantId,
      },
      200,
      PRIVATE,
    );
  });
  return app;
}

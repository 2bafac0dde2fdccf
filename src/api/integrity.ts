/**
 * `GET /v1/integrity`: verifies the hash chain of the caller's tenant (an
 * administrator: one tenant with `?tenant_id=`, or every tenant). The whole
 * walk has the time budget of one heavy query.
 *
 * @module
 */
import { Hono } from "hono";
import type { Row } from "@libsql/client";
import { type Keyring, NO_KEYS } from "../integrity/keyring.ts";
import { type CheckpointCopy, verifyTenant, verifyTenants } from "../integrity/verify.ts";
import type { Database, SnapshotSource } from "../store/client.ts";
import { untilAborted } from "../until_aborted.ts";
import type { FairTurns, Release } from "../fair_turns.ts";
import type { AuthEnv } from "./auth.ts";
import type { Activity } from "./activity.ts";
import { partyOf } from "./fair_share.ts";
import { parseGetQuery } from "./query.ts";
import { type QueryBudget, withinBudget } from "./query_budget.ts";
import { PRIVATE, searchParams, tenantFor, valid } from "./request.ts";

/** Options of {@linkcode integrityRoutes}. */
export interface IntegrityRoutesOptions {
  db: Database;
  /** Verifies checkpoint signatures; without a key only the chains themselves are checked. */
  keyring?: Keyring;
  /** The independent copy of the checkpoints, compared when given. */
  copy?: CheckpointCopy;
  /** The walk's time budget (reading the copy included), and the shutdown cut-off. */
  budget: QueryBudget;
  /** Turns for hashing, shared by the read API's bulk work. */
  turns: FairTurns;
  /** Who else is active: the turns pause only then. */
  activity?: Activity;
}

/** `GET /` relative to where it is mounted. */
export function integrityRoutes(
  { db, keyring = NO_KEYS, copy, budget, turns, activity }: IntegrityRoutesOptions,
): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.get("/", async (c) => {
    const query = valid(parseGetQuery(searchParams(c)));
    const tenantId = tenantFor(c.get("auth"), query.tenantId);
    const party = partyOf(c.get("auth"), activity);
    const walk = <T>(verify: (source: SnapshotSource, copy?: CheckpointCopy) => Promise<T>) =>
      withinBudget(budget, c.req.raw.signal, async (signal) => {
        // The walk hashes each chunk between two reads: it holds a turn from the moment a
        // chunk is handed over until it reads again (the database, or the copy on NATS).
        let release: Release = () => {};
        const chunk = async (read: () => Promise<Row[]>) => {
          release();
          const rows = await read();
          release = await turns.take(party, signal);
          return { rows };
        };
        // The copy is read over NATS, which a signal cannot stop: the walk stops waiting.
        const away = <R>(read: () => Promise<R>) => {
          release();
          return untilAborted(read(), signal);
        };
        try {
          return await verify(
            {
              execute: (stmt) => chunk(() => db.readInterruptible(stmt, signal, party)),
              readTransaction: (work) =>
                db.readSnapshot(
                  (tx) =>
                    work({ execute: (stmt) => chunk(async () => (await tx.execute(stmt)).rows) }),
                  signal,
                  party,
                ),
            },
            copy && {
              read: (tenantId) => away(() => copy.read(tenantId)),
              tenants: () => away(() => copy.tenants()),
            },
          );
        } finally {
          release();
        }
      });
    if (tenantId === undefined) {
      const report = await walk((source, copy) => verifyTenants(source, keyring, { copy }));
      return c.json(report, 200, PRIVATE);
    }
    const result = await walk((source, copy) => verifyTenant(source, tenantId, keyring, copy));
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

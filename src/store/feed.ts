/**
 * Reading session ends in storage order (`id`), for the feed: pure SQL
 * builders; the caller runs the statements.
 *
 * Why "after id N" never skips a row: `id` is SQLite's rowid, assigned inside
 * the write transaction. SQLite (and libSQL, and a Turso primary) admits one
 * writer at a time, and a new rowid is max(rowid) + 1 at insert time, so
 * transactions that commit later carry larger ids. A reader therefore never
 * sees id N + 1 before id N is committed, and once it has seen N, every row
 * stored afterwards has an id above N, whatever its `end_time` (a late event
 * with an old end time is simply a new, larger id). Ids are never reused as
 * long as the row with the largest id is never deleted: retention keeps it
 * (see `store/retention.ts`).
 *
 * @module
 */
import type { InStatement } from "@libsql/client";
import { TENANT_IS, tenantArgs } from "./id_keys.ts";
import { ITEM_COLUMNS } from "./queries.ts";

/** One feed page request. */
export interface FeedRequest {
  /** Only this tenant's rows; absent for an administrator reading every tenant. */
  tenantId?: string;
  /** Rows with an id strictly above this one (0 = from the start). */
  afterId: number;
  /** Most rows returned. */
  limit: number;
}

/** Builds the feed page query: rows after `afterId` in id order, `id` included. */
export function feedSql({ tenantId, afterId, limit }: FeedRequest): InStatement {
  return tenantId === undefined
    ? {
      sql: `SELECT ${ITEM_COLUMNS} FROM session_ends WHERE id > ? ORDER BY id LIMIT ?`,
      args: [afterId, limit],
    }
    : {
      sql: `SELECT ${ITEM_COLUMNS} FROM session_ends
            WHERE ${TENANT_IS} AND id > ? ORDER BY id LIMIT ?`,
      args: [...tenantArgs(tenantId), afterId, limit],
    };
}

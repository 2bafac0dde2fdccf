/**
 * Retention: deleting session ends older than a cutoff, in bounded chunks so
 * a purge never holds the write lock long enough to stall ingest, without
 * breaking the tenants' hash chains.
 *
 * A row's age is its `recorded_at`, when the service stored it (see
 * {@linkcode RETENTION_TIME}); a row stored exactly at the cutoff is kept.
 * Chains are cut only at their start: a row goes when it and every row its
 * tenant stored before it are older than the cutoff (rows stored by workers
 * whose clocks differ by a few seconds wait for each other). Each chunk hands its cut (the last deleted
 * position and its hash, from which verification of the rest starts) to the
 * caller's {@linkcode PurgeOptions.recordCut} inside its own transaction, so
 * the record (a purge checkpoint, see `src/retention.ts`) commits with the
 * delete or neither does.
 *
 * The row with the largest `id` is always kept (even when expired), so SQLite
 * never hands its id out again and the feed's "after id N" stays exact (see
 * `store/feed.ts`); it goes with the next purge after a newer row.
 *
 * @module
 */
import { nextTurn } from "../next_turn.ts";
import type { Database, WriteTx } from "./client.ts";
import { TENANT_IS, tenantArgs } from "./id_keys.ts";

/** Rows deleted per transaction by default. */
export const PURGE_CHUNK = 5_000;

/**
 * The SQL expression of a row's age: when the service stored it. A time the
 * service controls, which grows along each chain, so that the expired rows
 * are a prefix of it: an `end_time` (the relay's clock) dated 2099 cannot
 * hold a tenant's purge back.
 */
export const RETENTION_TIME = "recorded_at";

/** One committed chunk of a purge. */
export interface PurgeChunk {
  /** Rows deleted by this chunk. */
  deleted: number;
  /** Largest `id` deleted by this chunk. */
  maxId: number;
  /** Largest retention time (recorded_at, epoch ms) deleted by this chunk. */
  maxRetentionTime: number;
}

/** Where a chunk cut a tenant's chain: the last position it deleted, and that row's hash. */
export interface ChainCut {
  tenantId: string;
  seq: number;
  hash: string;
}

/** What a whole purge deleted. */
export interface PurgeResult {
  /** Rows deleted. */
  deleted: number;
  /** Largest `id` deleted, or null when nothing was. */
  maxId: number | null;
  /** Largest retention time deleted (epoch ms), or null when nothing was; always below the cutoff. */
  maxRetentionTime: number | null;
  /** Transactions committed. */
  chunks: number;
}

/** Options of {@linkcode purgeExpired}. */
export interface PurgeOptions {
  /**
   * Records a chunk's cut inside the chunk's transaction (`tx`); when it
   * rejects, the chunk rolls back and the purge rejects. Required: a chain
   * cut with no record of where no longer verifies.
   */
  recordCut: (tx: WriteTx, cut: ChainCut) => Promise<unknown>;
  /**
   * Rows deleted per transaction.
   * @default {5000}
   */
  chunkSize?: number;
  /** Stops between chunks when aborted (what was committed stays deleted). */
  signal?: AbortSignal;
  /** Called after each committed chunk (a hook for logs and metrics). */
  onChunk?: (chunk: PurgeChunk) => void | Promise<void>;
}

/** The cutoff for `days` of retention at `now`, or undefined for 0 (keep forever). */
export function retentionCutoff(days: number, now: number = Date.now()): number | undefined {
  return days === 0 ? undefined : now - days * 24 * 60 * 60 * 1000;
}

/**
 * Deletes, tenant by tenant, the expired start of each chain (see the module
 * comment), at most `chunkSize` rows per transaction, each chunk with the
 * record of its cut.
 */
export async function purgeExpired(
  db: Database,
  cutoffMs: number,
  options: PurgeOptions,
): Promise<PurgeResult> {
  const chunkSize = options.chunkSize ?? PURGE_CHUNK;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new Error(`'chunkSize' must be a positive integer: current value is ${chunkSize}`);
  }
  if (!Number.isFinite(cutoffMs)) {
    throw new Error(`'cutoffMs' must be a finite number: current value is ${cutoffMs}`);
  }
  const result: PurgeResult = { deleted: 0, maxId: null, maxRetentionTime: null, chunks: 0 };
  const tenants = await db.execute("SELECT tenant_id FROM chain_heads ORDER BY tenant_id");
  for (const { tenant_id } of tenants.rows) {
    while (!options.signal?.aborted) {
      const chunk = await purgeChunk(db, String(tenant_id), cutoffMs, chunkSize, options.recordCut);
      if (chunk === undefined) break;
      result.deleted += chunk.deleted;
      result.chunks++;
      result.maxId = Math.max(result.maxId ?? 0, chunk.maxId);
      result.maxRetentionTime = Math.max(
        result.maxRetentionTime ?? -Infinity,
        chunk.maxRetentionTime,
      );
      await options.onChunk?.(chunk);
      if (chunk.deleted < chunkSize) break;
      // let a waiting ingest transaction in between chunks
      await nextTurn();
    }
  }
  return result;
}

/** Deletes one chunk of a tenant's expired chain start; undefined when nothing is due. */
function purgeChunk(
  db: Database,
  tenantId: string,
  cutoffMs: number,
  chunkSize: number,
  recordCut: PurgeOptions["recordCut"],
): Promise<PurgeChunk | undefined> {
  return db.writeTransaction(async (tx) => {
    const newest = Number((await tx.execute("SELECT max(id) AS m FROM session_ends")).rows[0].m);
    const rs = await tx.execute({
      sql: `SELECT id, chain_seq, chain_hash, ${RETENTION_TIME} AS retention_time
            FROM session_ends WHERE ${TENANT_IS} AND chain_seq IS NOT NULL
            ORDER BY chain_seq LIMIT ?`,
      args: [...tenantArgs(tenantId), chunkSize],
    });
    const doomed = [];
    for (const row of rs.rows) {
      if (Number(row.retention_time) >= cutoffMs || Number(row.id) === newest) break;
      doomed.push(row);
    }
    if (doomed.length === 0) return undefined;
    const ids = doomed.map((r) => Number(r.id));
    await tx.execute({
      sql: `DELETE FROM session_ends WHERE id IN (${ids.map(() => "?").join(", ")})`,
      args: ids,
    });
    const last = doomed[doomed.length - 1];
    await recordCut(tx, { tenantId, seq: Number(last.chain_seq), hash: String(last.chain_hash) });
    return {
      deleted: doomed.length,
      maxId: Math.max(...ids),
      maxRetentionTime: Math.max(...doomed.map((r) => Number(r.retention_time))),
    };
  });
}

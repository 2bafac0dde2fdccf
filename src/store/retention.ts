/**
 * Retention: deleting session ends older than a cutoff, in bounded chunks so
 * a purge never holds the write lock long enough to stall ingest.
 *
 * A row's age is its `end_time`, or `recorded_at` when `end_time` is
 * unknown. A row exactly at the cutoff is kept: only rows strictly older are
 * deleted. The row with the largest `id` is always kept (even when expired),
 * so SQLite never hands its id out again and the feed's "after id N" stays
 * exact (see `store/feed.ts`); it goes with the next purge after a newer row.
 *
 * @module
 */
import type { Database } from "./client.ts";

/** Rows deleted per transaction by default. */
export const PURGE_CHUNK = 5_000;

/** The SQL expression of a row's age (matches the `session_ends_by_retention` index). */
export const RETENTION_TIME = "coalesce(end_time, recorded_at)";

/** One committed chunk of a purge. */
export interface PurgeChunk {
  /** Rows deleted by this chunk. */
  deleted: number;
  /** Largest `id` deleted by this chunk. */
  maxId: number;
  /** Largest retention time (end_time or recorded_at, epoch ms) deleted by this chunk. */
  maxRetentionTime: number;
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
   * Rows deleted per transaction.
   * @default {5000}
   */
  chunkSize?: number;
  /** Stops between chunks when aborted (what was committed stays deleted). */
  signal?: AbortSignal;
  /** Called after each committed chunk (a hook for checkpoints, logs, metrics). */
  onChunk?: (chunk: PurgeChunk) => void | Promise<void>;
}

/** The cutoff for `days` of retention at `now`, or undefined for 0 (keep forever). */
export function retentionCutoff(days: number, now: number = Date.now()): number | undefined {
  return days === 0 ? undefined : now - days * 24 * 60 * 60 * 1000;
}

/**
 * Deletes every session end whose retention time is strictly before
 * `cutoffMs` (except the newest-stored row, see the module comment), oldest
 * first, at most `chunkSize` rows per transaction.
 */
export async function purgeExpired(
  db: Database,
  cutoffMs: number,
  options: PurgeOptions = {},
): Promise<PurgeResult> {
  const chunkSize = options.chunkSize ?? PURGE_CHUNK;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new Error(`'chunkSize' must be a positive integer: current value is ${chunkSize}`);
  }
  if (!Number.isFinite(cutoffMs)) {
    throw new Error(`'cutoffMs' must be a finite number: current value is ${cutoffMs}`);
  }
  const result: PurgeResult = { deleted: 0, maxId: null, maxRetentionTime: null, chunks: 0 };
  while (!options.signal?.aborted) {
    const rs = await db.execute({
      sql: `DELETE FROM session_ends WHERE id IN (
              SELECT id FROM session_ends
              WHERE ${RETENTION_TIME} < ?
                AND id < (SELECT max(id) FROM session_ends)
              ORDER BY ${RETENTION_TIME}
              LIMIT ?)
            RETURNING id, ${RETENTION_TIME} AS retention_time`,
      args: [cutoffMs, chunkSize],
    });
    if (rs.rows.length === 0) break;
    const chunk: PurgeChunk = { deleted: rs.rows.length, maxId: 0, maxRetentionTime: -Infinity };
    for (const row of rs.rows) {
      chunk.maxId = Math.max(chunk.maxId, Number(row.id));
      chunk.maxRetentionTime = Math.max(chunk.maxRetentionTime, Number(row.retention_time));
    }
    result.deleted += chunk.deleted;
    result.chunks++;
    result.maxId = Math.max(result.maxId ?? 0, chunk.maxId);
    result.maxRetentionTime = Math.max(
      result.maxRetentionTime ?? -Infinity,
      chunk.maxRetentionTime,
    );
    await options.onChunk?.(chunk);
    if (rs.rows.length < chunkSize) break;
    // let a waiting ingest transaction in between chunks
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return result;
}

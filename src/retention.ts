/**
 * The retention runner: purges session ends older than `RETENTION_DAYS`
 * shortly after start and then every hour, each chunk of the purge with its
 * purge checkpoint, counting what it deleted in
 * `session_audit_retention_purged_total` and the purges that failed in
 * `session_audit_retention_failures_total`. Runs in the roles that write
 * (`all`, `ingest`), so `ROLE=api` replicas stay read-only.
 *
 * It joins the store's purge (`store/retention.ts`, which knows nothing of
 * checkpoints) to the integrity checkpoint writer, so that `store/` never
 * calls `integrity/`.
 *
 * @module
 */
import { sleep } from "./backoff.ts";
import { type Clock, systemTimers, type Timers, wallClock } from "./clock.ts";
import {
  type CheckpointRecord,
  logCheckpoints,
  writePurgeCheckpoints,
} from "./integrity/checkpoints.ts";
import { type Keyring, NO_KEYS } from "./integrity/keyring.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { Database } from "./store/client.ts";
import {
  purgeExpired,
  type PurgeOptions,
  type PurgeResult,
  retentionCutoff,
} from "./store/retention.ts";

/** Time between purges, ms. */
export const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
/** Delay of the first purge after start, ms. */
export const RETENTION_FIRST_DELAY_MS = 30_000;

/** What {@linkcode runRetention} needs. */
export interface RetentionDeps {
  db: Database;
  /** `RETENTION_DAYS`; 0 keeps rows forever (the runner then returns at once). */
  days: number;
  metrics: Metrics;
  logger: Logger;
  /**
   * Time between purges, ms.
   * @default {3600000}
   */
  intervalMs?: number;
  /**
   * Delay of the first purge, ms.
   * @default {30000}
   */
  firstDelayMs?: number;
  /**
   * The wall clock: the cutoff, and the purge checkpoints' `created_at`.
   * @default {wallClock}
   */
  clock?: Clock;
  /**
   * The timers the runner waits on between purges.
   * @default {systemTimers}
   */
  timers?: Timers;
  /** Signs the purge checkpoints. */
  keyring?: Keyring;
}

/** Options of {@linkcode purgeWithCheckpoints}. */
export interface CheckpointedPurgeOptions extends Omit<PurgeOptions, "recordCut"> {
  /** Signs the purge checkpoints; without a signing key they are stored unsigned. */
  keyring?: Keyring;
  /** Logs each purge checkpoint once its chunk committed. */
  logger?: Logger;
  /**
   * The wall clock of the checkpoints' `created_at`, epoch ms.
   * @default {wallClock}
   */
  clock?: Clock;
}

/**
 * Purges the session ends older than `cutoffMs` (the store's
 * `purgeExpired`), writing in each chunk's transaction the purge checkpoint
 * of its cut, from which verification of the rest of the chain starts.
 */
export function purgeWithCheckpoints(
  db: Database,
  cutoffMs: number,
  options: CheckpointedPurgeOptions = {},
): Promise<PurgeResult> {
  const { keyring = NO_KEYS, clock = wallClock, logger, onChunk, ...purge } = options;
  // One cut per chunk: the checkpoint of the chunk in progress, logged once it commits.
  let written: CheckpointRecord[] = [];
  return purgeExpired(db, cutoffMs, {
    ...purge,
    recordCut: async (tx, cut) => {
      written = await writePurgeCheckpoints(tx, [cut], keyring, clock.now());
    },
    onChunk: async (chunk) => {
      if (logger) logCheckpoints(logger, written);
      await onChunk?.(chunk);
    },
  });
}

/** One purge at the current cutoff: logged, counted. Errors are logged, never thrown. */
export async function purgeOnce(
  deps: RetentionDeps,
  signal?: AbortSignal,
): Promise<PurgeResult | undefined> {
  const clock = deps.clock ?? wallClock;
  const cutoff = retentionCutoff(deps.days, clock.now());
  if (cutoff === undefined) return undefined;
  try {
    const result = await purgeWithCheckpoints(deps.db, cutoff, {
      signal,
      keyring: deps.keyring,
      logger: deps.logger,
      clock,
      onChunk: (chunk) => deps.metrics.add("session_audit_retention_purged_total", chunk.deleted),
    });
    if (result.deleted > 0) {
      deps.logger.info("retention purge", {
        deleted: result.deleted,
        chunks: result.chunks,
        cutoff: new Date(cutoff).toISOString(),
        max_id: result.maxId,
        retention_days: deps.days,
      });
    }
    return result;
  } catch (err) {
    deps.metrics.add("session_audit_retention_failures_total", 1);
    deps.logger.warn("retention purge failed; trying again at the next run", { error: err });
    return undefined;
  }
}

/** Purges periodically until `signal` aborts. */
export async function runRetention(deps: RetentionDeps, signal: AbortSignal): Promise<void> {
  if (deps.days === 0) {
    deps.logger.info("retention disabled (RETENTION_DAYS=0): session ends are kept forever");
    return;
  }
  const timers = deps.timers ?? systemTimers;
  await sleep(deps.firstDelayMs ?? RETENTION_FIRST_DELAY_MS, signal, timers);
  while (!signal.aborted) {
    await purgeOnce(deps, signal);
    await sleep(deps.intervalMs ?? RETENTION_INTERVAL_MS, signal, timers);
  }
}

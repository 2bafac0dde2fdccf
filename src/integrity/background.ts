/**
 * The tamper-evidence work a process runs beside ingest and the API: the
 * checkpointer (roles that write), the publisher of the checkpoints'
 * independent copy (once NATS is connected), and the self-check (when
 * `INTEGRITY_CHECK_INTERVAL_SECONDS` is set). None of it holds up ingest.
 *
 * @module
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { IntegrityConfig } from "../config_integrity.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import {
  ensureCheckpointStream,
  latestCheckpoint,
  publishCheckpoint,
  streamCopy,
} from "../nats/checkpoint_stream.ts";
import type { Database } from "../store/client.ts";
import type { CheckpointRecord } from "./checkpoint_record.ts";
import { runCheckpointer } from "./checkpoints.ts";
import type { Keyring } from "./keyring.ts";
import { CheckpointPublisher } from "./publisher.ts";
import { IntegritySelfCheck } from "./self_check.ts";
import type { CheckpointCopy } from "./verify.ts";

/** What {@linkcode startIntegrityWork} needs. */
export interface IntegrityWorkDeps {
  config: IntegrityConfig;
  db: Database;
  keyring: Keyring;
  metrics: Metrics;
  logger: Logger;
  /** The process writes (ROLE all or ingest): it checkpoints and publishes. */
  writes: boolean;
}

/** The running work, and the copy as `/v1/integrity` reads it. */
export interface IntegrityWork {
  /** The independent copy; unreadable (undefined answers) until NATS is attached. */
  readonly copy: CheckpointCopy;
  /** Starts using NATS: the copy becomes readable, the publisher starts (roles that write). */
  attachNats(js: JetStreamClient, jsm: JetStreamManager): void;
  /** Settles once everything stopped after `signal` aborted. */
  readonly done: Promise<void>;
}

/** Starts the checkpointer and the self-check; the publisher waits for {@linkcode IntegrityWork.attachNats}. */
export function startIntegrityWork(deps: IntegrityWorkDeps, signal: AbortSignal): IntegrityWork {
  const { config, db, keyring, metrics, logger } = deps;
  const stream = config.checkpointStream;
  const tasks: Promise<void>[] = [];
  let nats: { js: JetStreamClient; jsm: JetStreamManager } | undefined;
  let publisher: CheckpointPublisher | undefined;

  /** Reads the copy, or answers undefined when it cannot be read now. */
  const readable = async <T>(read: (copy: CheckpointCopy) => Promise<T>) => {
    if (!nats) return undefined;
    try {
      return await read(streamCopy(nats.js, nats.jsm, stream));
    } catch (err) {
      logger.warn("the checkpoints' copy could not be read", { stream, error: err });
      return undefined;
    }
  };
  const copy: CheckpointCopy = {
    read: (tenantId) => readable((c) => c.read(tenantId)),
    tenants: () => readable((c) => c.tenants()),
  };

  if (deps.writes) {
    tasks.push(runCheckpointer({
      db,
      keyring,
      intervalMs: config.checkpointIntervalSeconds * 1000,
      logger,
      onWritten: () => publisher?.nudge(),
    }, signal));
  }
  if (config.integrityCheckIntervalSeconds > 0) {
    const selfCheck = new IntegritySelfCheck({
      db,
      keyring,
      metrics,
      logger,
      latestInCopy: (tenantId): Promise<CheckpointRecord | undefined> =>
        nats ? latestCheckpoint(nats.jsm, stream, tenantId) : Promise.resolve(undefined),
    });
    tasks.push(selfCheck.run(config.integrityCheckIntervalSeconds * 1000, signal));
  }
  return {
    copy,
    attachNats(js, jsm) {
      nats = { js, jsm };
      if (!deps.writes) return;
      publisher = new CheckpointPublisher({
        db,
        ensure: () => ensureCheckpointStream(jsm, stream),
        publish: (c) => publishCheckpoint(js, stream, c),
        latest: (tenantId) => latestCheckpoint(jsm, stream, tenantId),
        metrics,
        logger,
      });
      tasks.push(publisher.run(signal));
    },
    get done() {
      return Promise.allSettled(tasks).then(() => {});
    },
  };
}

/**
 * The checkpoints of the tenants' chain heads in the database: written
 * periodically (and at retention purge boundaries), each chained to its
 * tenant's previous checkpoint and signed with the current key, logged as
 * it is made; read back by the verifiers and the publisher.
 *
 * @module
 */
import type { InStatement } from "@libsql/client";
import { sleep } from "../backoff.ts";
import { type Clock, type Timers, wallClock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { Database, RowSource, WriteTx } from "../store/client.ts";
import type { ChainHead } from "./chain.ts";
import {
  CHECKPOINT_VERSION,
  checkpointJson,
  type CheckpointKind,
  type CheckpointRecord,
  checkpointText,
  linkDigest,
  NO_PREDECESSOR,
} from "./checkpoint_record.ts";
import { refusalToChainOver } from "./checkpoint_trust.ts";
import type { Keyring } from "./keyring.ts";

export type { CheckpointKind, CheckpointRecord };

/** The columns of a checkpoint, in {@linkcode checkpointOf}'s terms. */
export const CHECKPOINT_COLUMNS =
  "id, version, tenant_id, ordinal, kind, seq, hash, created_at, algorithm, key_id, prev_digest, signature";

/** A stored checkpoint row as a record (a null number reads as 0, which no checkpoint has). */
export function checkpointOf(r: Record<string, unknown>): CheckpointRecord {
  const text = (name: string) => (r[name] === null ? null : String(r[name]));
  return {
    version: Number(r.version ?? 1),
    tenantId: String(r.tenant_id),
    ordinal: Number(r.ordinal ?? 0),
    kind: String(r.kind),
    seq: Number(r.seq ?? 0),
    hash: String(r.hash),
    createdAt: Number(r.created_at),
    algorithm: String(r.algorithm),
    keyId: text("key_id"),
    prevDigest: text("prev_digest"),
    signature: String(r.signature ?? ""),
  };
}

/**
 * The link digest of a tenant's last checkpoint `last`, which the next one
 * names. A version 1 checkpoint's digest accumulates over every one before
 * it, so they are read (only the checkpoints of before schema 6).
 */
async function digestOf(tx: WriteTx, last: CheckpointRecord): Promise<string> {
  if (last.version !== 1) return linkDigest(NO_PREDECESSOR, last);
  const rs = await tx.execute({
    sql: `SELECT ${CHECKPOINT_COLUMNS} FROM chain_checkpoints
          WHERE tenant_id = ? AND ordinal <= ? ORDER BY ordinal`,
    args: [last.tenantId, last.ordinal],
  });
  let digest = NO_PREDECESSOR;
  for (const row of rs.rows) digest = linkDigest(digest, checkpointOf(row));
  return digest;
}

/** The INSERT of a checkpoint row: its columns are the fields of its JSON form. */
export function insertCheckpointSql(c: CheckpointRecord): InStatement {
  const json = checkpointJson(c);
  const columns = Object.keys(json);
  return {
    sql: `INSERT INTO chain_checkpoints (${columns.join(", ")})
          VALUES (${columns.map(() => "?").join(", ")})`,
    args: Object.values(json),
  };
}

/** A tenant whose checkpoint was not written: its last one is not trusted. */
export interface RefusedCheckpoint {
  tenantId: string;
  /** Why its last checkpoint cannot be chained over. */
  reason: string;
}

/** A purge whose checkpoint would chain over one that is not trusted. */
export class UntrustedCheckpointError extends Error {
  /** The tenant, and why. */
  constructor(readonly refused: RefusedCheckpoint) {
    super(`no checkpoint chains over tenant ${refused.tenantId}'s last: ${refused.reason}`);
    this.name = "UntrustedCheckpointError";
  }
}

/** Why a signed checkpoint must not follow `previous` (see {@linkcode refusalToChainOver}). */
async function refusalOver(
  tx: WriteTx,
  previous: CheckpointRecord,
  keyring: Keyring,
): Promise<string | undefined> {
  const signedBefore = await tx.execute({
    sql: `SELECT 1 FROM chain_checkpoints
          WHERE tenant_id = ? AND ordinal < ? AND algorithm != 'none' LIMIT 1`,
    args: [previous.tenantId, previous.ordinal],
  });
  return await refusalToChainOver(previous, signedBefore.rows.length > 0, keyring);
}

/**
 * Writes one checkpoint per head, each chained to its tenant's last, inside
 * a transaction. With a signing key, a tenant whose last checkpoint is not
 * trusted gets none: it goes to `refused`.
 */
async function insertCheckpoints(
  tx: WriteTx,
  heads: Array<{ tenantId: string } & ChainHead>,
  kind: CheckpointKind,
  keyring: Keyring,
  now: number,
  refused: (r: RefusedCheckpoint) => void,
): Promise<CheckpointRecord[]> {
  const written: CheckpointRecord[] = [];
  const signer = keyring.signer;
  for (const head of heads) {
    const last = await tx.execute({
      sql: `SELECT ${CHECKPOINT_COLUMNS} FROM chain_checkpoints
            WHERE tenant_id = ? ORDER BY ordinal DESC LIMIT 1`,
      args: [head.tenantId],
    });
    const previous = last.rows.length ? checkpointOf(last.rows[0]) : undefined;
    const reason = signer && previous ? await refusalOver(tx, previous, keyring) : undefined;
    if (reason) {
      refused({ tenantId: head.tenantId, reason });
      continue;
    }
    const unsigned: CheckpointRecord = {
      version: CHECKPOINT_VERSION,
      tenantId: head.tenantId,
      ordinal: (previous?.ordinal ?? 0) + 1,
      kind,
      seq: head.seq,
      hash: head.hash,
      createdAt: now,
      algorithm: signer ? signer.algorithm : "none",
      keyId: signer ? signer.keyId : null,
      prevDigest: previous ? await digestOf(tx, previous) : NO_PREDECESSOR,
      signature: "",
    };
    const checkpoint = signer
      ? { ...unsigned, signature: await signer.sign(checkpointText(unsigned)) }
      : unsigned;
    await tx.execute(insertCheckpointSql(checkpoint));
    written.push(checkpoint);
  }
  return written;
}

/**
 * Checkpoints the head of every tenant whose chain moved since its last
 * checkpoint, and, with a signing key, of every tenant whose checkpoints
 * are all unsigned (written before a key was configured: the first signed
 * checkpoint vouches for them). Returns the checkpoints written; a tenant
 * whose last checkpoint is not trusted gets none and goes to `refused`.
 */
export async function writePeriodicCheckpoints(
  db: Database,
  keyring: Keyring,
  now: number = Date.now(),
  refused: (r: RefusedCheckpoint) => void = () => {},
): Promise<CheckpointRecord[]> {
  return await db.writeTransaction(async (tx) => {
    const rs = await tx.execute({
      sql: `SELECT h.tenant_id, h.seq, h.hash FROM chain_heads h
            WHERE h.seq > coalesce((SELECT max(c.seq) FROM chain_checkpoints c
                                    WHERE c.tenant_id = h.tenant_id), 0)
               OR (? AND EXISTS (SELECT 1 FROM chain_checkpoints c WHERE c.tenant_id = h.tenant_id)
                   AND NOT EXISTS (SELECT 1 FROM chain_checkpoints c
                                   WHERE c.tenant_id = h.tenant_id AND c.algorithm != 'none'))
            ORDER BY h.tenant_id`,
      args: [keyring.signer ? 1 : 0],
    });
    const heads = rs.rows.map((r) => ({
      tenantId: String(r.tenant_id),
      seq: Number(r.seq),
      hash: String(r.hash),
    }));
    return await insertCheckpoints(tx, heads, "periodic", keyring, now, refused);
  });
}

/**
 * Records where a retention purge cut each tenant's chain, inside the
 * purge's own transaction: verification then starts after `seq`, from `hash`.
 * Throws {@linkcode UntrustedCheckpointError} (the purge rolls back) when a
 * tenant's last checkpoint is not trusted.
 */
export async function writePurgeCheckpoints(
  tx: WriteTx,
  cuts: Array<{ tenantId: string } & ChainHead>,
  keyring: Keyring,
  now: number = Date.now(),
): Promise<CheckpointRecord[]> {
  return await insertCheckpoints(tx, cuts, "purge", keyring, now, (r) => {
    throw new UntrustedCheckpointError(r);
  });
}

/** A tenant's checkpoints in chain order (by ordinal; a duplicate after its original). */
export async function readCheckpoints(
  db: RowSource,
  tenantId: string,
): Promise<CheckpointRecord[]> {
  const rs = await db.execute({
    sql: `SELECT ${CHECKPOINT_COLUMNS} FROM chain_checkpoints
          WHERE tenant_id = ? ORDER BY ordinal, id`,
    args: [tenantId],
  });
  return rs.rows.map(checkpointOf);
}

/** Logs each checkpoint as it is made: the log is a copy kept outside the database. */
export function logCheckpoints(logger: Logger, checkpoints: readonly CheckpointRecord[]): void {
  for (const c of checkpoints) logger.info("chain checkpoint", { checkpoint: checkpointJson(c) });
}

/** Options of {@linkcode runCheckpointer}. */
export interface CheckpointerOptions {
  db: Database;
  keyring: Keyring;
  /** Time between checkpoints, ms. @default 300000 */
  intervalMs?: number;
  logger: Logger;
  /** Called with the checkpoints of each round that wrote some (after their commit). */
  onWritten?: (checkpoints: readonly CheckpointRecord[]) => void;
  /** The wall clock of the checkpoints' `created_at`. @default wallClock */
  clock?: Clock;
  /** The timers it waits on between rounds. @default systemTimers */
  timers?: Timers;
}

/** Writes periodic checkpoints at once, then every interval, and a last time once `signal` aborts. */
export async function runCheckpointer(
  options: CheckpointerOptions,
  signal: AbortSignal,
): Promise<void> {
  const interval = options.intervalMs ?? 300_000;
  const clock = options.clock ?? wallClock;
  const once = async () => {
    try {
      const written = await writePeriodicCheckpoints(
        options.db,
        options.keyring,
        clock.now(),
        ({ tenantId, reason }) =>
          options.logger.error("not chaining a checkpoint over an untrusted one", {
            tenant_id: tenantId,
            reason,
          }),
      );
      if (written.length > 0) {
        logCheckpoints(options.logger, written);
        options.onWritten?.(written);
      }
    } catch (err) {
      options.logger.warn("chain checkpoint failed; will retry", { error: err });
    }
  };
  for (;;) {
    await once();
    if (signal.aborted) return;
    await sleep(interval, signal, options.timers);
  }
}

/**
 * Signed checkpoints of the tenants' chain heads: written periodically (and
 * at retention purge boundaries), read back by the verifier.
 *
 * @module
 */
import type { InValue } from "@libsql/client";
import { sleep } from "../backoff.ts";
import type { Logger } from "../log.ts";
import type { Database, RowSource, WriteTx } from "../store/client.ts";
import type { ChainHead } from "./chain.ts";
import type { CheckpointSigner, SigningAlgorithm } from "./signing.ts";

/** Why a checkpoint was written. */
export type CheckpointKind = "periodic" | "purge";

/** A stored checkpoint. */
export interface Checkpoint extends ChainHead {
  tenantId: string;
  kind: CheckpointKind;
  createdAt: number;
  algorithm: SigningAlgorithm | "none";
  signature: string;
}

/** The exact text that is signed (version 1). */
export function checkpointText(c: Omit<Checkpoint, "algorithm" | "signature">): string {
  return ["session-audit checkpoint v1", c.tenantId, c.kind, c.seq, c.hash, c.createdAt].join("\n");
}

/** Builds the INSERT of signed checkpoints for `heads`, inside a transaction. */
async function insertCheckpoints(
  tx: WriteTx,
  heads: Array<{ tenantId: string } & ChainHead>,
  kind: CheckpointKind,
  signer: CheckpointSigner | undefined,
  now: number,
): Promise<number> {
  if (heads.length === 0) return 0;
  const args: InValue[] = [];
  for (const head of heads) {
    const fields = {
      tenantId: head.tenantId,
      kind,
      seq: head.seq,
      hash: head.hash,
      createdAt: now,
    };
    const signature = signer?.sign ? await signer.sign(checkpointText(fields)) : "";
    args.push(
      head.tenantId,
      kind,
      head.seq,
      head.hash,
      now,
      signer?.sign ? signer.algorithm : "none",
      signature,
    );
  }
  await tx.execute({
    sql:
      `INSERT INTO chain_checkpoints (tenant_id, kind, seq, hash, created_at, algorithm, signature)
          VALUES ${heads.map(() => "(?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
    args,
  });
  return heads.length;
}

/**
 * Signs the head of every tenant whose chain moved since its last
 * checkpoint. Returns how many checkpoints were written.
 */
export async function writePeriodicCheckpoints(
  db: Database,
  signer: CheckpointSigner,
  now: number = Date.now(),
): Promise<number> {
  return await db.writeTransaction(async (tx) => {
    const rs = await tx.execute(
      `SELECT h.tenant_id, h.seq, h.hash FROM chain_heads h
       WHERE h.seq > coalesce((SELECT max(c.seq) FROM chain_checkpoints c
                               WHERE c.tenant_id = h.tenant_id), 0)`,
    );
    const heads = rs.rows.map((r) => ({
      tenantId: String(r.tenant_id),
      seq: Number(r.seq),
      hash: String(r.hash),
    }));
    return await insertCheckpoints(tx, heads, "periodic", signer, now);
  });
}

/**
 * Records where a retention purge cut each tenant's chain, inside the
 * purge's own transaction: verification then starts after `seq`, from `hash`.
 */
export async function writePurgeCheckpoints(
  tx: WriteTx,
  cuts: Array<{ tenantId: string } & ChainHead>,
  signer: CheckpointSigner | undefined,
  now: number = Date.now(),
): Promise<number> {
  return await insertCheckpoints(tx, cuts, "purge", signer, now);
}

/** A tenant's checkpoints, oldest first. */
export async function readCheckpoints(db: RowSource, tenantId: string): Promise<Checkpoint[]> {
  const rs = await db.execute({
    sql: `SELECT tenant_id, kind, seq, hash, created_at, algorithm, signature
          FROM chain_checkpoints WHERE tenant_id = ? ORDER BY seq, id`,
    args: [tenantId],
  });
  return rs.rows.map((r) => ({
    tenantId: String(r.tenant_id),
    kind: String(r.kind) as CheckpointKind,
    seq: Number(r.seq),
    hash: String(r.hash),
    createdAt: Number(r.created_at),
    algorithm: String(r.algorithm) as Checkpoint["algorithm"],
    signature: String(r.signature),
  }));
}

/** Options of {@linkcode runCheckpointer}. */
export interface CheckpointerOptions {
  db: Database;
  signer: CheckpointSigner;
  /** Time between checkpoints, ms. @default 300000 */
  intervalMs?: number;
  logger: Logger;
}

/** Writes periodic checkpoints until `signal` aborts, and once more at the end. */
export async function runCheckpointer(
  options: CheckpointerOptions,
  signal: AbortSignal,
): Promise<void> {
  const interval = options.intervalMs ?? 300_000;
  const once = async () => {
    try {
      const written = await writePeriodicCheckpoints(options.db, options.signer);
      if (written > 0) options.logger.info("chain checkpoints signed", { tenants: written });
    } catch (err) {
      options.logger.warn("chain checkpoint failed; will retry", { error: err });
    }
  };
  while (!signal.aborted) {
    await sleep(interval, signal);
    await once();
  }
}

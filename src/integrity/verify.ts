/**
 * Verifying the stored hash chains: per tenant, from its latest purge
 * checkpoint (or the genesis) through every row in chain order, against the
 * signed checkpoints and the recorded chain head.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Row } from "@libsql/client";
import type { Database } from "../store/client.ts";
import { TENANT_IS, tenantArgs } from "../store/id_keys.ts";
import { anomalies, nullableNumber, nullableText } from "../store/row.ts";
import {
  type ChainAnchor,
  type ChainBreak,
  ChainVerifier,
  GENESIS_HEAD,
  type StoredChainRow,
} from "./chain.ts";
import { type Checkpoint, checkpointText, readCheckpoints } from "./checkpoints.ts";
import type { CheckpointSigner } from "./signing.ts";

/** Rows read per query while walking a chain. */
const WALK_CHUNK = 2_000;

/** The verdict on one tenant's chain. */
export interface TenantIntegrity {
  tenant_id: string;
  ok: boolean;
  rows_checked: number;
  first_broken: ChainBreak | null;
  /** Hex hash of the last row verified. */
  head: string;
  /** Chain position of `head`. */
  head_seq: number;
  /** Signed checkpoints that matched (0 without a signing key). */
  checkpoints_verified: number;
}

/** The verdict on several tenants. */
export interface IntegrityReport {
  ok: boolean;
  rows_checked: number;
  first_broken: (ChainBreak & { tenant_id: string }) | null;
  /** One tenant: its head. Several: SHA-256 over their `tenant:seq:head` lines, sorted. */
  head: string;
  tenants: TenantIntegrity[];
}

/** Maps a stored row to what the verifier reads. */
export function chainRowOf(row: Row): StoredChainRow {
  return {
    chainVersion: Number(row.chain_version),
    chainSeq: nullableNumber(row, "chain_seq"),
    chainHash: nullableText(row, "chain_hash"),
    sessionId: String(row.session_id),
    tenantId: String(row.tenant_id),
    deviceId: String(row.device_id),
    userId: nullableText(row, "user_id"),
    startTime: nullableNumber(row, "start_time"),
    endTime: nullableNumber(row, "end_time"),
    durationSeconds: nullableNumber(row, "duration_seconds"),
    sourceIp: nullableText(row, "source_ip"),
    sourcePort: nullableNumber(row, "source_port"),
    reason: nullableText(row, "reason"),
    anomalies: anomalies(row, "anomalies"),
    streamSeq: Number(row.stream_seq),
    corrects: nullableNumber(row, "corrects"),
    correctedBy: nullableNumber(row, "corrected_by"),
    recordedAt: Number(row.recorded_at),
  };
}

const ROW_COLUMNS = `session_id, tenant_id, device_id, user_id, start_time, end_time,
  duration_seconds, source_ip, source_port, reason, anomalies, stream_seq, recorded_at,
  chain_version, chain_seq, chain_hash, corrects, corrected_by`;

/** Checks each checkpoint's signature; returns the good ones and the first forged one. */
async function checkSignatures(
  checkpoints: Checkpoint[],
  signer: CheckpointSigner | undefined,
): Promise<{ trusted: Checkpoint[]; forged?: Checkpoint }> {
  const trusted: Checkpoint[] = [];
  for (const checkpoint of checkpoints) {
    if (!signer || checkpoint.algorithm === "none") {
      // Unsigned (no key configured when written, or none now): usable as an anchor, not as proof.
      if (checkpoint.kind === "purge") trusted.push(checkpoint);
      continue;
    }
    if (
      checkpoint.algorithm !== signer.algorithm ||
      !await signer.verify(checkpointText(checkpoint), checkpoint.signature)
    ) {
      return { trusted, forged: checkpoint };
    }
    trusted.push(checkpoint);
  }
  return { trusted };
}

/** Verifies one tenant's chain. */
export async function verifyTenant(
  db: Database,
  tenantId: string,
  signer?: CheckpointSigner,
): Promise<TenantIntegrity> {
  const { trusted, forged } = await checkSignatures(await readCheckpoints(db, tenantId), signer);
  const purge = trusted.filter((c) => c.kind === "purge").at(-1);
  const anchor: ChainAnchor = purge ?? GENESIS_HEAD;
  const periodic = trusted.filter((c) => c.kind === "periodic" && c.seq > anchor.seq);
  const watched = new Set(periodic.map((c) => c.seq));
  const hashAt = new Map<number, string>();
  const verifier = new ChainVerifier(anchor);

  // Rows that carry no chain position at all were never written by the chain.
  const unchained = await db.execute({
    sql: `SELECT ${ROW_COLUMNS} FROM session_ends WHERE ${TENANT_IS} AND chain_seq IS NULL LIMIT 1`,
    args: tenantArgs(tenantId),
  });
  if (unchained.rows.length > 0) verifier.push(chainRowOf(unchained.rows[0]));

  let after = anchor.seq;
  for (;;) {
    const rs = await db.execute({
      sql: `SELECT ${ROW_COLUMNS} FROM session_ends
            WHERE ${TENANT_IS} AND chain_seq > ? ORDER BY chain_seq LIMIT ?`,
      args: [...tenantArgs(tenantId), after, WALK_CHUNK],
    });
    for (const r of rs.rows) {
      const row = chainRowOf(r);
      verifier.push(row);
      if (watched.has(row.chainSeq as number)) {
        hashAt.set(row.chainSeq as number, row.chainHash as string);
      }
    }
    if (rs.rows.length < WALK_CHUNK) break;
    after = Number(rs.rows[rs.rows.length - 1].chain_seq);
  }
  // The recorded head must be reachable too: rows deleted at the end of the chain show here.
  const head = await db.execute({
    sql: "SELECT seq FROM chain_heads WHERE tenant_id = ?",
    args: [tenantId],
  });
  const recordedHeadSeq = head.rows.length ? Number(head.rows[0].seq) : undefined;
  let broken = verifier.finish(periodic, hashAt, recordedHeadSeq);
  if (!broken && forged) {
    broken = {
      session_id: null,
      problem: "altered",
      chain_seq: forged.seq,
      detail: `the checkpoint at position ${forged.seq} has an invalid signature`,
    };
  }
  return {
    tenant_id: tenantId,
    ok: broken === null,
    rows_checked: verifier.rowsChecked,
    first_broken: broken,
    head: verifier.head.hash,
    head_seq: verifier.head.seq,
    checkpoints_verified: periodic.filter((c) => hashAt.get(c.seq) === c.hash).length,
  };
}

/** Every tenant that has rows, a chain head or checkpoints. */
export async function listTenants(db: Database): Promise<string[]> {
  const rs = await db.execute(
    `SELECT tenant_id FROM chain_heads
     UNION SELECT DISTINCT tenant_id FROM session_ends
     UNION SELECT DISTINCT tenant_id FROM chain_checkpoints
     ORDER BY tenant_id`,
  );
  return rs.rows.map((r) => String(r.tenant_id));
}

/** Verifies the given tenants (all of them by default) and sums the verdicts. */
export async function verifyTenants(
  db: Database,
  signer?: CheckpointSigner,
  tenants?: string[],
): Promise<IntegrityReport> {
  const results: TenantIntegrity[] = [];
  for (const tenant of tenants ?? await listTenants(db)) {
    results.push(await verifyTenant(db, tenant, signer));
  }
  return summarise(results);
}

/** Sums per-tenant verdicts into one report. */
export function summarise(results: TenantIntegrity[]): IntegrityReport {
  const failed = results.find((r) => !r.ok);
  const head = results.length === 1 ? results[0].head : createHash("sha256").update(
    results.map((r) => `${r.tenant_id}:${r.head_seq}:${r.head}`).sort().join("\n"),
  ).digest("hex");
  return {
    ok: failed === undefined,
    rows_checked: results.reduce((n, r) => n + r.rows_checked, 0),
    first_broken: failed?.first_broken
      ? { tenant_id: failed.tenant_id, ...failed.first_broken }
      : null,
    head,
    tenants: results,
  };
}

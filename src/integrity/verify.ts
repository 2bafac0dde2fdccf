/**
 * Verifying the stored hash chains: per tenant, from its latest trusted
 * purge checkpoint (or the genesis) through every row in chain order,
 * against the trusted checkpoints, the independent copy when one is given,
 * and the recorded chain head.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Row } from "@libsql/client";
import type { RowSource, SnapshotSource } from "../store/client.ts";
import { SESSION_END_COLUMNS } from "../store/columns.ts";
import { TENANT_IS, tenantArgs } from "../store/id_keys.ts";
import { anomalies, nullableNumber, nullableText } from "../store/row.ts";
import { type ChainBreak, ChainVerifier, firstBreak, type StoredChainRow } from "./chain.ts";
import { verifyCheckpoints } from "./checkpoint_chain.ts";
import type { CheckpointRecord } from "./checkpoint_record.ts";
import { readCheckpoints } from "./checkpoints.ts";
import type { Keyring } from "./keyring.ts";

/** Rows read per query while walking a chain. */
const WALK_CHUNK = 500;

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
  /** Checkpoints whose signature verified (0 without a signing key). */
  checkpoints_verified: number;
  /**
   * The highest position that a trusted checkpoint (or the independent copy)
   * vouches for and that the rows reach intact: rows above it are chained
   * but not yet covered by a checkpoint.
   */
  checkpoint_seq: number;
  /** Whether the independent copy of the checkpoints was compared. */
  copy_checked: boolean;
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

/** The independent copy of the checkpoints, as a verifier reads it. */
export interface CheckpointCopy {
  /** Every checkpoint of `tenantId` the copy holds; undefined when it cannot be read now. */
  read(tenantId: string): Promise<CheckpointRecord[] | undefined>;
  /** Every tenant the copy holds checkpoints of; undefined when it cannot be read now. */
  tenants(): Promise<string[] | undefined>;
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

/** The columns {@linkcode chainRowOf} reads. */
export const ROW_COLUMNS = SESSION_END_COLUMNS;

/**
 * Verifies one tenant's chain; with `copy`, against the independent copy of
 * its checkpoints too. Everything is read from one snapshot of the database
 * (rows stored or purged meanwhile do not tear it).
 */
export async function verifyTenant(
  db: SnapshotSource,
  tenantId: string,
  keyring: Keyring,
  copy?: CheckpointCopy,
): Promise<TenantIntegrity> {
  const copied = copy ? await copy.read(tenantId) : undefined;
  return await db.readTransaction((tx) => verifySnapshot(tx, tenantId, keyring, copied));
}

async function verifySnapshot(
  db: RowSource,
  tenantId: string,
  keyring: Keyring,
  copied: CheckpointRecord[] | undefined,
): Promise<TenantIntegrity> {
  const checkpoints = await verifyCheckpoints(
    await readCheckpoints(db, tenantId),
    keyring,
    copied,
  );
  const { anchor } = checkpoints;
  const verifier = new ChainVerifier(anchor, checkpoints.heads);
  const breaks: (ChainBreak | null)[] = [];

  // Rows that carry no chain position at all were never written by the chain.
  const unchained = await db.execute({
    sql: `SELECT ${ROW_COLUMNS} FROM session_ends WHERE ${TENANT_IS} AND chain_seq IS NULL LIMIT 1`,
    args: tenantArgs(tenantId),
  });
  if (unchained.rows.length > 0) verifier.push(chainRowOf(unchained.rows[0]));
  // Rows at or below the purge anchor were purged: one still there escapes verification.
  const purged = await db.execute({
    sql: `SELECT session_id, chain_seq FROM session_ends
          WHERE ${TENANT_IS} AND chain_seq <= ? ORDER BY chain_seq LIMIT 1`,
    args: [...tenantArgs(tenantId), anchor.seq],
  });
  if (purged.rows.length > 0) {
    const seq = Number(purged.rows[0].chain_seq);
    breaks.push({
      session_id: String(purged.rows[0].session_id),
      problem: "inserted",
      chain_seq: seq,
      detail:
        `position ${seq} is present, at or below the purge checkpoint at position ${anchor.seq}`,
    });
  }

  // The recorded head must be reachable too: rows deleted at the end of the chain show there.
  const head = await db.execute({
    sql: "SELECT seq FROM chain_heads WHERE tenant_id = ?",
    args: [tenantId],
  });
  const recordedHeadSeq = head.rows.length ? Number(head.rows[0].seq) : undefined;
  // Keyset on (chain_seq, id): a second row at the last position of one read is in the next.
  let after = { seq: anchor.seq, id: Number.MAX_SAFE_INTEGER };
  for (;;) {
    const rs = await db.execute({
      sql: `SELECT ${ROW_COLUMNS}, id FROM session_ends
            WHERE ${TENANT_IS} AND (chain_seq, id) > (?, ?) ORDER BY chain_seq, id LIMIT ?`,
      args: [...tenantArgs(tenantId), after.seq, after.id, WALK_CHUNK],
    });
    for (const r of rs.rows) verifier.push(chainRowOf(r));
    if (rs.rows.length < WALK_CHUNK) break;
    const last = rs.rows[rs.rows.length - 1];
    after = { seq: Number(last.chain_seq), id: Number(last.id) };
  }
  breaks.push(verifier.finish(recordedHeadSeq));
  const broken = firstBreak(breaks, checkpoints.breaks);
  return {
    tenant_id: tenantId,
    ok: broken === null,
    rows_checked: verifier.rowsChecked,
    first_broken: broken,
    head: verifier.head.hash,
    head_seq: verifier.head.seq,
    checkpoints_verified: checkpoints.verified,
    checkpoint_seq: verifier.vouchedSeq,
    copy_checked: copied !== undefined,
  };
}

/**
 * Every tenant that has rows, a chain head or checkpoints, and those the
 * independent copy holds (a tenant deleted from the database shows there).
 */
export async function listTenants(db: RowSource, copy?: CheckpointCopy): Promise<string[]> {
  const rs = await db.execute(
    `SELECT tenant_id FROM chain_heads
     UNION SELECT DISTINCT tenant_id FROM session_ends
     UNION SELECT DISTINCT tenant_id FROM chain_checkpoints`,
  );
  const tenants = new Set(rs.rows.map((r) => String(r.tenant_id)));
  for (const tenant of (copy ? await copy.tenants() : undefined) ?? []) tenants.add(tenant);
  return [...tenants].sort();
}

/** Verifies the given tenants (all of them by default) and sums the verdicts. */
export async function verifyTenants(
  db: SnapshotSource,
  keyring: Keyring,
  options: { tenants?: string[]; copy?: CheckpointCopy } = {},
): Promise<IntegrityReport> {
  const results: TenantIntegrity[] = [];
  for (const tenant of options.tenants ?? await listTenants(db, options.copy)) {
    results.push(await verifyTenant(db, tenant, keyring, options.copy));
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

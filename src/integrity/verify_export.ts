/**
 * Verifying an NDJSON export (`GET /v1/session-ends/export?format=ndjson`)
 * offline: each tenant's rows are re-chained in `chain_seq` order, and,
 * given the checkpoints of the independent copy, checked against every
 * trusted checkpoint inside the export's range. An export that starts after
 * a tenant's first row is anchored on the copy's purge checkpoint just
 * before it, on an anchor the operator supplies (e.g. from `/v1/integrity`),
 * or else on its first row.
 *
 * @module
 */
import * as v from "valibot";
import { parseRfc3339 } from "../rfc3339.ts";
import {
  type ChainAnchor,
  type ChainBreak,
  ChainVerifier,
  firstBreak,
  GENESIS_HEAD,
  type StoredChainRow,
} from "./chain.ts";
import { verifyCheckpoints } from "./checkpoint_chain.ts";
import type { CheckpointRecord } from "./checkpoint_record.ts";
import { type Keyring, NO_KEYS } from "./keyring.ts";
import { type IntegrityReport, summarise, type TenantIntegrity } from "./verify.ts";

const nullableString = v.nullable(v.string());
const time = v.pipe(
  v.string(),
  v.check((s) => parseRfc3339(s) !== undefined, "must be an RFC 3339 time"),
  v.transform((s) => parseRfc3339(s) as number),
);

const nullableNumber = v.nullable(v.number());
/** A field an export made before schema 5 does not carry: null when absent. */
const since5 = <T extends v.GenericSchema>(schema: T) => v.optional(v.nullable(schema), null);

/** One exported item as the verifier needs it (items exported before schema 5 included). */
const ExportedItem = v.object({
  session_id: v.string(),
  tenant_id: v.string(),
  device_id: v.string(),
  user_id: nullableString,
  start_time: v.nullable(time),
  end_time: v.nullable(time),
  duration_seconds: nullableNumber,
  source_ip: nullableString,
  source_port: since5(v.number()),
  reason: nullableString,
  recorded_at: time,
  anomalies: v.optional(
    v.array(v.object({ field: v.string(), value: v.string(), problem: v.string() })),
    [],
  ),
  stream_seq: since5(v.number()),
  chain_version: v.optional(v.number(), 1),
  chain_seq: nullableNumber,
  chain_hash: nullableString,
  corrects: since5(v.number()),
  corrected_by: since5(v.number()),
});

/** A line of the export that could not be read. */
export class ExportFormatError extends Error {
  constructor(readonly line: number, problem: string) {
    super(`line ${line}: ${problem}`);
    this.name = "ExportFormatError";
  }
}

/** Parses NDJSON text into chain rows. */
export function parseExport(text: string): StoredChainRow[] {
  const rows: StoredChainRow[] = [];
  text.split("\n").forEach((line, index) => {
    if (line.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new ExportFormatError(index + 1, "not JSON");
    }
    const item = v.safeParse(ExportedItem, json);
    if (!item.success) {
      const issue = item.issues[0];
      throw new ExportFormatError(index + 1, `${v.getDotPath(issue) ?? "item"}: ${issue.message}`);
    }
    const o = item.output;
    rows.push({
      sessionId: o.session_id,
      tenantId: o.tenant_id,
      deviceId: o.device_id,
      userId: o.user_id,
      startTime: o.start_time,
      endTime: o.end_time,
      durationSeconds: o.duration_seconds,
      sourceIp: o.source_ip,
      sourcePort: o.source_port,
      reason: o.reason,
      anomalies: o.anomalies,
      // A version 1 item needs none: it is not part of that encoding.
      streamSeq: o.stream_seq ?? 0,
      recordedAt: o.recorded_at,
      chainVersion: o.chain_version,
      chainSeq: o.chain_seq,
      chainHash: o.chain_hash,
      corrects: o.corrects,
      correctedBy: o.corrected_by,
    });
  });
  return rows;
}

/** Options of {@linkcode verifyExportRows}. */
export interface ExportVerifyOptions {
  /** Where a tenant's partial chain starts (tenant → seq/hash), as the operator knows it. */
  anchors?: Map<string, ChainAnchor>;
  /** The checkpoints of the independent copy, every tenant's. */
  checkpoints?: readonly CheckpointRecord[];
  /** Verifies their signatures. @default {NO_KEYS} */
  keyring?: Keyring;
}

/** Verifies exported rows, against the copy's checkpoints when given. */
export async function verifyExportRows(
  rows: StoredChainRow[],
  options: ExportVerifyOptions = {},
): Promise<IntegrityReport> {
  const byTenant = new Map<string, StoredChainRow[]>();
  for (const row of rows) {
    const list = byTenant.get(row.tenantId) ?? [];
    list.push(row);
    byTenant.set(row.tenantId, list);
  }
  const results: TenantIntegrity[] = [];
  for (const [tenant, list] of [...byTenant].sort(([a], [b]) => a.localeCompare(b))) {
    list.sort((a, b) => (a.chainSeq ?? -1) - (b.chainSeq ?? -1));
    const copied = options.checkpoints?.filter((c) => c.tenantId === tenant);
    const checkpoints = copied
      ? await verifyCheckpoints(copied, options.keyring ?? NO_KEYS, copied)
      : undefined;
    const breaks: (ChainBreak | null)[] = [];
    let anchor = options.anchors?.get(tenant);
    let start = 0;
    const first = list[0];
    if (!anchor) {
      if (first.chainSeq === 1 || first.chainSeq === null || first.chainHash === null) {
        anchor = GENESIS_HEAD;
      } else if (checkpoints && checkpoints.anchor.seq === first.chainSeq - 1) {
        anchor = checkpoints.anchor;
      } else {
        // The export starts mid-chain: trust its first row as the anchor.
        anchor = { seq: first.chainSeq, hash: first.chainHash };
        start = 1;
      }
    }
    // An export is a snapshot: checkpoints made after its last row do not concern it.
    const end = list.findLast((r) => r.chainSeq !== null)?.chainSeq ?? 0;
    const heads = (checkpoints?.heads ?? []).filter((h) => h.seq > anchor.seq && h.seq <= end);
    // Anchored on its first row, the export still holds that row: a correction may name it.
    const verifier = new ChainVerifier(anchor, heads, {
      linksFrom: start ? anchor.seq - 1 : anchor.seq,
    });
    if (start) verifier.noteOutside(first);
    for (const row of list.slice(start)) verifier.push(row);
    breaks.push(verifier.finish());
    const broken = firstBreak(breaks, checkpoints?.breaks);
    results.push({
      tenant_id: tenant,
      ok: broken === null,
      rows_checked: verifier.rowsChecked + start,
      first_broken: broken,
      head: verifier.head.hash,
      head_seq: verifier.head.seq,
      checkpoints_verified: checkpoints?.verified ?? 0,
      checkpoint_seq: verifier.vouchedSeq,
      copy_checked: copied !== undefined,
    });
  }
  return summarise(results);
}

import { deepStrictEqual, equal } from "node:assert/strict";
import { formatRfc3339 } from "../rfc3339.ts";
import { canonicalRowV1, canonicalRowV2, type ChainedFields } from "./canonical.ts";
import { chainHash, GENESIS_HASH } from "./chain.ts";
import { parseExport, verifyExportRows } from "./verify_export.ts";
import { chainFields } from "../testing/chain_fields.ts";

/** Entry `seq`, with a port from position 3 and an anomaly at 4 (what version 2 adds). */
function fields(seq: number): ChainedFields {
  const anomalies = seq === 4 ? [{ field: "user_id", value: "bob", problem: "not a UUID" }] : [];
  return { ...chainFields(seq), sourcePort: seq > 2 ? 40_000 + seq : null, anomalies };
}

/**
 * NDJSON lines as the export writes them: rows 1-2 as an export made before
 * version 2 wrote them (no version marker, no new fields), rows 3-4 as
 * today's.
 */
function exportLines(): string[] {
  let previous = GENESIS_HASH;
  return [1, 2, 3, 4].map((seq) => {
    const f = fields(seq);
    const old = seq <= 2;
    previous = chainHash(previous, old ? canonicalRowV1(f) : canonicalRowV2(f));
    const item: Record<string, unknown> = {
      session_id: f.sessionId,
      tenant_id: f.tenantId,
      device_id: f.deviceId,
      user_id: f.userId,
      action: "ssh_session_end",
      start_time: formatRfc3339(f.startTime as number),
      end_time: formatRfc3339(f.endTime as number),
      duration_seconds: f.durationSeconds,
      source_ip: f.sourceIp,
      reason: f.reason,
      recorded_at: formatRfc3339(f.recordedAt),
      chain_seq: seq,
      chain_hash: previous,
    };
    if (!old) {
      Object.assign(item, {
        source_port: f.sourcePort,
        anomalies: f.anomalies,
        stream_seq: f.streamSeq,
        chain_version: 2,
        corrects: null,
        corrected_by: null,
      });
    }
    return JSON.stringify(item);
  });
}

Deno.test("an export with items from before version 2 and items since verifies, each by its encoding", async () => {
  const report = await verifyExportRows(parseExport(exportLines().join("\n")));
  equal(report.ok, true, JSON.stringify(report.first_broken));
  equal(report.rows_checked, 4);
});

Deno.test("in an export, what version 2 covers is checked: an anomaly or a port edited is altered", async () => {
  // What each edit replaces, by what.
  const edits = Object.entries({
    '"value":"bob"': '"value":"alice"',
    '"source_port":40004': '"source_port":40005',
    '"stream_seq":4': '"stream_seq":1',
    '"chain_version":2': '"chain_version":1',
  });
  const verdicts = await Promise.all(edits.map(async ([from, to]) => {
    const lines = exportLines();
    lines[3] = lines[3].replace(from, to);
    const { first_broken } = await verifyExportRows(parseExport(lines.join("\n")));
    return [first_broken?.problem, first_broken?.chain_seq];
  }));
  deepStrictEqual(verdicts, edits.map(() => ["altered", 4]));
});

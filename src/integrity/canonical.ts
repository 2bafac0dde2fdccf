/**
 * The canonical encodings of a chain entry, one per version: the text whose
 * hash links a row into its tenant's chain. Each row carries the version it
 * was written with (`chain_version`), and the verifier encodes it with that
 * version, so rows written before a new version still verify. Pure.
 *
 * Version 1 (rows written before schema 5):
 *
 *     ["sa1", chain_seq, session_id, tenant_id, device_id, user_id,
 *      start_time, end_time, duration_seconds, source_ip, reason, recorded_at]
 *
 * Version 2 (every row written since):
 *
 *     ["sa2", chain_seq, session_id, tenant_id, device_id, user_id,
 *      start_time, end_time, duration_seconds, source_ip, source_port, reason,
 *      anomalies, stream_seq, corrects, recorded_at]
 *
 * JSON arrays without white space (`JSON.stringify`); times are epoch
 * milliseconds, absent values `null`, ids lower-case UUIDs; `anomalies` is
 * an array of `[field, value, problem]` arrays in the row's order (`[]` when
 * none); `corrects` is the `chain_seq` of the version this row corrects, or
 * `null` for a session's first row.
 *
 * @module
 */
import type { SessionEnd } from "../event.ts";
import type { StoredAnomaly } from "../secondary_fields.ts";

/** The version new rows are written with. */
export const CHAIN_VERSION = 2;

/** The fields a chain entry covers: the session end, its position, its event and when it was stored. */
export interface ChainedFields extends Omit<SessionEnd, "anomalies"> {
  /** As written, or as read back (a hand-edited column may hold any field). */
  anomalies: readonly StoredAnomaly[];
  chainSeq: number;
  recordedAt: number;
  /** The stream sequence of the event that decided the row. */
  streamSeq: number;
  /** The `chain_seq` of the version this row corrects, or null. */
  corrects: number | null;
}

/** What version 1 covers. */
export type ChainedFieldsV1 = Pick<
  ChainedFields,
  | "chainSeq"
  | "sessionId"
  | "tenantId"
  | "deviceId"
  | "userId"
  | "startTime"
  | "endTime"
  | "durationSeconds"
  | "sourceIp"
  | "reason"
  | "recordedAt"
>;

/** What both versions cover first, in their order: the position, the ids, the times, the address. */
function common(row: ChainedFieldsV1) {
  return [
    row.chainSeq,
    row.sessionId,
    row.tenantId,
    row.deviceId,
    row.userId,
    row.startTime,
    row.endTime,
    row.durationSeconds,
    row.sourceIp,
  ] as const;
}

/** The version 1 encoding (see the module comment). */
export function canonicalRowV1(row: ChainedFieldsV1): string {
  return JSON.stringify(["sa1", ...common(row), row.reason, row.recordedAt]);
}

const NONE: readonly never[] = Object.freeze([]);

/** The anomalies as the encoding lists them: `[field, value, problem]` each. */
function anomalyTuples(anomalies: readonly StoredAnomaly[]): readonly (readonly string[])[] {
  if (anomalies.length === 0) return NONE;
  return anomalies.map((a) => [a.field, a.value, a.problem]);
}

/** The version 2 encoding (see the module comment). */
export function canonicalRowV2(row: ChainedFields): string {
  return JSON.stringify([
    "sa2",
    ...common(row),
    row.sourcePort,
    row.reason,
    anomalyTuples(row.anomalies),
    row.streamSeq,
    row.corrects,
    row.recordedAt,
  ]);
}

/**
 * The encoding of `row` in `version`, or a problem: an unknown version, or
 * a version 1 row holding what version 1 does not cover (a port, anomalies,
 * a correction), which only tampering can put there.
 */
export function canonicalRow(
  row: ChainedFields,
  version: number,
): { ok: true; text: string } | { ok: false; problem: string } {
  if (version === 2) return { ok: true, text: canonicalRowV2(row) };
  if (version !== 1) return { ok: false, problem: `unknown chain version ${version}` };
  if (row.sourcePort !== null || row.anomalies.length > 0 || row.corrects !== null) {
    return {
      ok: false,
      problem: "a version 1 row holds a source_port, anomalies or a correction it cannot cover",
    };
  }
  return { ok: true, text: canonicalRowV1(row) };
}

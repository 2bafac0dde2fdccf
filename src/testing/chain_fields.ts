/**
 * The fields of chain entry `seq` of one tenant, for the integrity module's
 * unit tests: the session end the README's test vectors hash, varied by
 * position.
 *
 * @module
 */
import type { ChainedFields } from "../integrity/canonical.ts";

/** The tenant of every entry. */
export const CHAIN_TENANT = "11111111-1111-4111-8111-111111111111";

/** Chain entry `seq`: a user on even positions, an end one second per position after the start. */
export function chainFields(seq: number): ChainedFields {
  return {
    chainSeq: seq,
    sessionId: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    tenantId: CHAIN_TENANT,
    deviceId: "22222222-2222-4222-8222-222222222222",
    userId: seq % 2 ? null : "33333333-3333-4333-8333-333333333333",
    startTime: 1_773_309_600_000,
    endTime: 1_773_309_600_000 + seq * 1000,
    durationSeconds: seq,
    sourceIp: "203.0.113.7",
    sourcePort: null,
    reason: "normal",
    anomalies: [],
    streamSeq: seq,
    corrects: null,
    recordedAt: 1_773_400_000_000,
  };
}

/**
 * The session-end event the poller publishes (SPEC §1): identity decides
 * whether it is a row (valibot checks `session_id`, `tenant_id` and
 * `device_id`), and every event with a valid identity is normalised into the
 * row we store, its unusable secondary fields kept as anomalies
 * (`secondary_fields.ts`).
 *
 * @module
 */
import * as v from "valibot";
import type { QuarantineClass } from "./quarantine.ts";
import {
  type Anomaly,
  AnomalyList,
  futureEndTimeProblem,
  isUuid,
  readReason,
  readSourceIp,
  readTime,
  readUserId,
} from "./secondary_fields.ts";

export { type Anomaly, isUuid } from "./secondary_fields.ts";

/** Payloads larger than this are quarantined unread. */
export const MAX_EVENT_BYTES = 64 * 1024;

/** How far after the stream received it an `end_time` may lie before it is flagged, by default, ms. */
export const DEFAULT_CLOCK_SKEW_MS = 300_000;

/** A session end with a valid identity, normalised: what one audit row holds. */
export interface SessionEnd {
  /** Lower-case UUID: the idempotency key. */
  sessionId: string;
  tenantId: string;
  deviceId: string;
  userId: string | null;
  /** Epoch milliseconds. */
  startTime: number | null;
  /** Epoch milliseconds. */
  endTime: number | null;
  /** Whole seconds from start to end, truncated; null when unknown or negative. */
  durationSeconds: number | null;
  /** The canonical client address (`source_ip.ts`). */
  sourceIp: string | null;
  /** The client port, when `source_ip` carried one. */
  sourcePort: number | null;
  reason: string | null;
  /** The unusable raw values of secondary fields, in field order; empty when none. */
  anomalies: readonly Anomaly[];
}

/** What quarantining a message needs to say. */
export interface Rejection {
  ok: false;
  /** The validation message, naming the field at fault. */
  reason: string;
  class: QuarantineClass;
}

/** The outcome of {@linkcode decodeSessionEnd}. */
export type DecodeResult = { ok: true; event: SessionEnd } | Rejection;

/** Options of {@linkcode decodeSessionEnd}. */
export interface DecodeOptions {
  /** When the stream received the event, epoch ms: a later `end_time` is flagged. Unset: not checked. */
  receivedAt?: number;
  /**
   * How far `end_time` may lie after `receivedAt` before it is flagged, ms.
   * @default {300000}
   */
  skewMs?: number;
}

/** The shared empty list of a row without anomalies (never written to). */
export const NO_ANOMALIES: readonly Anomaly[] = Object.freeze([]);

const uuid = v.pipe(
  v.string("must be a string"),
  v.check(isUuid, "must be a UUID"),
  v.toLowerCase(),
);

/** The identity of a session end: what must be valid for an event to be a row. Other fields are ignored. */
export const SessionEndIdentity = v.object({
  session_id: uuid,
  tenant_id: uuid,
  device_id: uuid,
}, "must be a JSON object");

/** Whole seconds from `start` to `end`, truncated; null when either is unknown or end precedes start. */
export function durationSeconds(
  start: number | null,
  end: number | null,
): number | null {
  if (start === null || end === null || end < start) return null;
  return Math.trunc((end - start) / 1000);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function reject(cls: QuarantineClass, reason: string): Rejection {
  return { ok: false, reason, class: cls };
}

/**
 * Decodes one message payload. Never throws. Quarantined (`ok: false`, with
 * the reason and its class): not UTF-8 JSON, not an object, over
 * {@linkcode MAX_EVENT_BYTES}, or a missing or invalid identity. Anything
 * else is a session end.
 */
export function decodeSessionEnd(data: Uint8Array, options: DecodeOptions = {}): DecodeResult {
  if (data.byteLength > MAX_EVENT_BYTES) {
    return reject(
      "too_large",
      `payload is ${data.byteLength} bytes, over the ${MAX_EVENT_BYTES}-byte limit`,
    );
  }
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return reject("not_json", "not JSON: the payload is not valid UTF-8 text");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return reject("not_json", `not JSON: ${(err as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    const got = Array.isArray(json) ? "array" : json === null ? "null" : typeof json;
    return reject("not_object", `not a JSON object: got ${got}`);
  }
  const identity = v.safeParse(SessionEndIdentity, json);
  if (!identity.success) {
    const issue = identity.issues[0];
    const problem = issue.received === "undefined" ? "is missing" : issue.message;
    return reject("identity", `${v.getDotPath(issue) ?? "payload"}: ${problem}`);
  }
  return { ok: true, event: normalise(identity.output, json as Record<string, unknown>, options) };
}

/** The row of an event whose identity is valid: its secondary fields read from `payload`. */
function normalise(
  identity: v.InferOutput<typeof SessionEndIdentity>,
  payload: Record<string, unknown>,
  options: DecodeOptions,
): SessionEnd {
  const anomalies = new AnomalyList();
  const userId = readUserId(payload.user_id, anomalies);
  const startTime = readTime("start_time", payload.start_time, anomalies);
  const endTime = readTime("end_time", payload.end_time, anomalies);
  const { receivedAt, skewMs = DEFAULT_CLOCK_SKEW_MS } = options;
  if (endTime !== null && receivedAt !== undefined && endTime > receivedAt + skewMs) {
    // Kept, and flagged: a relay's clock ahead of the stream's.
    anomalies.add("end_time", payload.end_time as string, futureEndTimeProblem(skewMs));
  }
  const source = readSourceIp(payload.source_ip, anomalies);
  const reason = readReason(payload.reason, anomalies);
  return {
    sessionId: identity.session_id,
    tenantId: identity.tenant_id,
    deviceId: identity.device_id,
    userId,
    startTime,
    endTime,
    durationSeconds: durationSeconds(startTime, endTime),
    sourceIp: source.ip,
    sourcePort: source.port,
    reason,
    anomalies: anomalies.list ?? NO_ANOMALIES,
  };
}

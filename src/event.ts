/**
 * The session-end event the poller publishes (SPEC §1), its validation with
 * valibot and its normalisation into the row we store.
 *
 * @module
 */
import { isIP } from "node:net";
import * as v from "valibot";
import { parseRfc3339 } from "./rfc3339.ts";

/** Payloads larger than this are quarantined unread. */
export const MAX_EVENT_BYTES = 64 * 1024;
/** Longest accepted `reason`. */
export const MAX_REASON_LENGTH = 64;
/** What a `reason` must be, as said in validation messages. */
export const REASON_RULE =
  `must be a short printable string (at most ${MAX_REASON_LENGTH} characters)`;

/** True for a `reason` of printable ASCII words, single spaces between, at most 64 characters. */
export function isShortReason(text: string): boolean {
  return text.length <= MAX_REASON_LENGTH && /^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/.test(text);
}
/** Go's zero `time.Time`, which a producer emits for a time it never set. */
const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/** A validated, normalised session end: what one audit row holds. */
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
  sourceIp: string | null;
  reason: string | null;
}

/** The outcome of {@linkcode decodeSessionEnd}. */
export type DecodeResult =
  | { ok: true; event: SessionEnd }
  | { ok: false; reason: string };

/** True for IPv4 dotted-quad or IPv6 text (no port, no brackets, no zone). */
export function isIpAddress(text: string): boolean {
  // node:net accepts an IPv6 zone (`fe80::1%eth0`); an address from another host has none.
  return isIP(text) !== 0 && !text.includes("%");
}

/**
 * True for a UUID in any letter case (8-4-4-4-12 hexadecimal digits): what
 * `v.uuid()` accepts. Hand-written on purpose, a measured choice: valibot's
 * expression carries the `i` and `u` flags and this runs three or four times
 * for every event; with this loop decoding took 7.3 instead of 10.4 µs an
 * event (commit 4f06f80).
 */
export function isUuid(text: string): boolean {
  if (text.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = text.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false; // "-"
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) {
      return false; // not 0-9, a-f, A-F
    }
  }
  return true;
}

const uuid = v.pipe(
  v.string("must be a string"),
  v.check(isUuid, "must be a UUID"),
  v.toLowerCase(),
);

/** A field that may be absent, null or "" (all meaning "not known"), otherwise must pass `check`. */
function optionalText(check: (s: string) => boolean, message: string) {
  return v.optional(
    v.nullable(
      v.pipe(
        v.string("must be a string"),
        v.check((s) => s === "" || check(s), message),
      ),
    ),
  );
}

const TIME_RULE = "must be an RFC 3339 time such as 2026-03-12T10:00:00Z";

/**
 * A time field: absent, null, "" or Go's zero time mean "not known" (null);
 * otherwise an RFC 3339 time, parsed here once into epoch milliseconds.
 */
const timeField = v.optional(
  v.nullable(
    v.pipe(
      v.string("must be a string"),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        const text = dataset.value;
        if (text === "" || text === GO_ZERO_TIME) return null;
        const ms = parseRfc3339(text);
        if (ms === undefined) {
          addIssue({ message: TIME_RULE });
          return NEVER;
        }
        return ms;
      }),
    ),
  ),
);

/** The valibot schema of the event payload. Unknown fields are ignored. */
export const SessionEndPayload = v.object({
  session_id: uuid,
  tenant_id: uuid,
  device_id: uuid,
  user_id: optionalText(isUuid, "must be a UUID"),
  start_time: timeField,
  end_time: timeField,
  source_ip: optionalText(isIpAddress, "must be an IPv4 or IPv6 address"),
  reason: optionalText(isShortReason, REASON_RULE),
}, "must be a JSON object");

/** The payload as the poller sends it, once validated. */
export type SessionEndPayload = v.InferOutput<typeof SessionEndPayload>;

/** Whole seconds from `start` to `end`, truncated; null when either is unknown or end precedes start. */
export function durationSeconds(
  start: number | null,
  end: number | null,
): number | null {
  if (start === null || end === null || end < start) return null;
  return Math.trunc((end - start) / 1000);
}

/** Turns a validated payload into the stored shape. */
export function normalise(payload: SessionEndPayload): SessionEnd {
  const startTime = payload.start_time ?? null;
  const endTime = payload.end_time ?? null;
  return {
    sessionId: payload.session_id,
    tenantId: payload.tenant_id,
    deviceId: payload.device_id,
    userId: payload.user_id ? payload.user_id.toLowerCase() : null,
    startTime,
    endTime,
    durationSeconds: durationSeconds(startTime, endTime),
    sourceIp: payload.source_ip ? payload.source_ip.toLowerCase() : null,
    reason: payload.reason || null,
  };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes one message payload. Never throws: anything that is not a valid
 * session end comes back as `{ ok: false, reason }`, the reason naming the
 * field at fault.
 */
export function decodeSessionEnd(data: Uint8Array): DecodeResult {
  if (data.byteLength > MAX_EVENT_BYTES) {
    return {
      ok: false,
      reason: `payload is ${data.byteLength} bytes, over the ${MAX_EVENT_BYTES}-byte limit`,
    };
  }
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { ok: false, reason: "not JSON: the payload is not valid UTF-8 text" };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return {
      ok: false,
      reason: `not a JSON object: got ${
        Array.isArray(json) ? "array" : json === null ? "null" : typeof json
      }`,
    };
  }
  const result = v.safeParse(SessionEndPayload, json);
  if (!result.success) {
    const issue = result.issues[0];
    const path = v.getDotPath(issue);
    const problem = issue.received === "undefined" ? "is missing" : issue.message;
    return { ok: false, reason: `${path ?? "payload"}: ${problem}` };
  }
  return { ok: true, event: normalise(result.output) };
}

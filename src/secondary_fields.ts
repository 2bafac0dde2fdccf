/**
 * Secondary fields of a session end (`user_id`, `start_time`, `end_time`,
 * `source_ip`, `reason`): each read into its typed value, or, when it is
 * unusable, `null` plus an {@linkcode Anomaly} that keeps the raw value
 * verbatim (SPEC §2.3). Absent, `null` and `""` mean "unknown": `null`,
 * no anomaly. Never throws.
 *
 * @module
 */
import { parseRfc3339 } from "./rfc3339.ts";
import { parseSourceIp } from "./source_ip.ts";

/** The fields that become `null` plus an anomaly when unusable. */
export const SECONDARY_FIELDS = [
  "user_id",
  "start_time",
  "end_time",
  "source_ip",
  "reason",
] as const;
/** One of {@linkcode SECONDARY_FIELDS}. */
export type SecondaryField = typeof SECONDARY_FIELDS[number];

/** An anomaly as read back from storage: the same, its field any text. */
export interface StoredAnomaly {
  field: string;
  /** The raw value: the string as sent, or the JSON text of a value that is not a string. */
  value: string;
  /** Why it is unusable (or, for a future `end_time`, why it is flagged). */
  problem: string;
}

/** An unusable value of a secondary field, kept on the row. */
export interface Anomaly extends StoredAnomaly {
  field: SecondaryField;
}

/** Longest `reason`, in characters (Unicode code points). */
export const MAX_REASON_LENGTH = 64;

/** The problems a secondary field can have, as stored in anomalies. */
export const PROBLEMS = {
  notString: "not a string",
  notUuid: "not a UUID",
  notTime: "not an RFC 3339 time",
  reasonTooLong: `longer than ${MAX_REASON_LENGTH} characters`,
  reasonControl: "contains a control character",
  reasonSurrogate: "not well-formed Unicode (a lone surrogate)",
} as const;

/** The problem of an `end_time` more than `skewMs` after the stream received the event. */
export function futureEndTimeProblem(skewMs: number): string {
  return `in the future: more than ${skewMs / 1000} s after the stream received the event`;
}

/** Go's zero `time.Time`, which the producer writes for a time it never set. */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/** The anomalies found while reading one event; `list` stays null while there are none. */
export class AnomalyList {
  list: Anomaly[] | null = null;

  /** Records that `field` held the unusable `value`. */
  add(field: SecondaryField, value: string, problem: string): void {
    (this.list ??= []).push({ field, value, problem });
  }

  /** Records a value that is not a string (and not null): its JSON text is kept. */
  notString(field: SecondaryField, value: unknown): void {
    let text: string;
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = `${typeof value} (not serialisable)`;
    }
    this.add(
      field,
      text,
      `${PROBLEMS.notString} (${Array.isArray(value) ? "array" : typeof value})`,
    );
  }
}

/** The text of a field, or null for absent, null and `""`; records a value that is not a string. */
function textOf(field: SecondaryField, raw: unknown, anomalies: AnomalyList): string | null {
  if (raw === undefined || raw === null || raw === "") return null;
  if (typeof raw === "string") return raw;
  anomalies.notString(field, raw);
  return null;
}

/** True for a UUID in any letter case (8-4-4-4-12 hexadecimal digits); a measured loop. */
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

/** `user_id`: a UUID, stored lower-cased. */
export function readUserId(raw: unknown, anomalies: AnomalyList): string | null {
  const text = textOf("user_id", raw, anomalies);
  if (text === null) return null;
  if (isUuid(text)) return text.toLowerCase();
  anomalies.add("user_id", text, PROBLEMS.notUuid);
  return null;
}

/** `start_time` or `end_time`: a strict RFC 3339 time, as epoch milliseconds; Go's zero time is unknown. */
export function readTime(
  field: "start_time" | "end_time",
  raw: unknown,
  anomalies: AnomalyList,
): number | null {
  const text = textOf(field, raw, anomalies);
  if (text === null || text === GO_ZERO_TIME) return null;
  const ms = parseRfc3339(text);
  if (ms !== undefined) return ms;
  anomalies.add(field, text, PROBLEMS.notTime);
  return null;
}

/** A client address and its port, as {@linkcode readSourceIp} stores them. */
export interface SourceIpValue {
  ip: string | null;
  port: number | null;
}

const NO_SOURCE: SourceIpValue = Object.freeze({ ip: null, port: null });

/** `source_ip`: any form `parseSourceIp` reads (`source_ip.ts`), canonical address and port. */
export function readSourceIp(raw: unknown, anomalies: AnomalyList): SourceIpValue {
  const text = textOf("source_ip", raw, anomalies);
  if (text === null) return NO_SOURCE;
  const parsed = parseSourceIp(text);
  if (parsed.ok) return parsed;
  anomalies.add("source_ip", text, parsed.problem);
  return NO_SOURCE;
}

/**
 * The problem of a `reason` text, or undefined when it is a valid reason:
 * at most {@linkcode MAX_REASON_LENGTH} code points, no control character
 * (U+0000-U+001F, U+007F-U+009F), no lone surrogate. Anything else goes,
 * non-ASCII included.
 */
export function reasonProblem(text: string): string | undefined {
  if (text.length > MAX_REASON_LENGTH * 2) return PROBLEMS.reasonTooLong;
  let codePoints = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return PROBLEMS.reasonControl;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1); // NaN past the end
      if (!(next >= 0xdc00 && next <= 0xdfff)) return PROBLEMS.reasonSurrogate;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return PROBLEMS.reasonSurrogate;
    }
    codePoints++;
  }
  return codePoints > MAX_REASON_LENGTH ? PROBLEMS.reasonTooLong : undefined;
}

/** `reason`: any non-empty text {@linkcode reasonProblem} accepts, kept as sent. */
export function readReason(raw: unknown, anomalies: AnomalyList): string | null {
  const text = textOf("reason", raw, anomalies);
  if (text === null) return null;
  const problem = reasonProblem(text);
  if (problem === undefined) return text;
  anomalies.add("reason", text, problem);
  return null;
}

/**
 * Why a message is quarantined, in classes an operator can count
 * (`session_audit_quarantined_total{class}`): what the payload is not
 * (decoding), and what the database made of a valid event (the store).
 *
 * @module
 */

/** Every class of quarantine, in the order the metrics list them. */
export const QUARANTINE_CLASSES = [
  "not_json",
  "not_object",
  "too_large",
  "identity",
  "conflict",
  "database",
] as const;

/**
 * One of {@linkcode QUARANTINE_CLASSES}:
 * - `not_json`: not UTF-8 text, or not JSON;
 * - `not_object`: JSON, but not an object;
 * - `too_large`: over 64 KiB;
 * - `identity`: `session_id`, `tenant_id` or `device_id` missing or not a UUID;
 * - `conflict`: its `session_id` is stored for another tenant;
 * - `database`: the database refuses its row, deterministically (its error is kept).
 */
export type QuarantineClass = typeof QUARANTINE_CLASSES[number];

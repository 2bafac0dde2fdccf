/**
 * The columns of a stored session end, named once: the insert writes them in
 * this order, and every read of session ends (the API's queries, the live
 * feed, the integrity verifier) selects them from here.
 *
 * @module
 */

/** What a session end's insert writes, in order (the integer id keys follow, see session_end_sql.ts). */
export const STORED_COLUMNS = [
  "session_id",
  "tenant_id",
  "device_id",
  "user_id",
  "start_time",
  "end_time",
  "duration_seconds",
  "source_ip",
  "source_port",
  "reason",
  "anomalies",
  "sort_time",
  "stream_seq",
  "recorded_at",
  "chain_version",
  "chain_seq",
  "chain_hash",
  "corrects",
] as const;

/**
 * What a read of a session end selects, comma-separated: the stored columns
 * and `corrected_by`, which a later correction sets (not the row's `id`).
 */
export const SESSION_END_COLUMNS = [...STORED_COLUMNS, "corrected_by"].join(", ");

/**
 * Reading session ends: the SQL of the list (keyset-paged, newest first)
 * and of the single-item lookup, and the mapping of a row to the API item.
 * Pure functions; the caller runs the statements.
 *
 * @module
 */
import type { InStatement, Row } from "@libsql/client";
import type { StoredAnomaly } from "../secondary_fields.ts";
import { formatRfc3339 } from "../rfc3339.ts";
import { SESSION_END_COLUMNS } from "./columns.ts";
import { KEY_OF, TENANT_IS, tenantArgs } from "./id_keys.ts";
import { anomalies, nullableNumber, nullableText, text } from "./row.ts";

/** What a list is narrowed to. Every id lower-case; times epoch milliseconds. */
export interface ListFilter {
  /** Only this tenant's rows; absent only for an administrator reading all tenants. */
  tenantId?: string;
  deviceId?: string;
  userId?: string;
  reason?: string;
  /** `end_time >= since`; rows without an end time are then excluded. */
  since?: number;
  /** `end_time < until`; rows without an end time are then excluded. */
  until?: number;
  /**
   * Also the versions a correction replaced (the export: the whole record);
   * otherwise only each session's current version.
   */
  allVersions?: boolean;
}

/** A row's place in the list order, `(sort_time, id)` descending (ties: newest stored first). */
export interface SortKey {
  sortTime: number;
  /** The row's storage order (`id`, its rowid). */
  id: number;
}

/** One page request. */
export interface PageRequest {
  /** Rows wanted; the statement asks for one more to learn whether a next page exists. */
  limit: number;
  /** Continue strictly after this row. */
  after?: SortKey;
}

/** One session end as the API returns it (SPEC §4). */
export interface SessionEndItem {
  session_id: string;
  tenant_id: string;
  device_id: string;
  user_id: string | null;
  action: "ssh_session_end";
  start_time: string | null;
  end_time: string | null;
  duration_seconds: number | null;
  source_ip: string | null;
  /** The client port, when `source_ip` carried one. */
  source_port: number | null;
  reason: string | null;
  recorded_at: string;
  /** The unusable raw values of the event (`[]` when none). */
  anomalies: readonly StoredAnomaly[];
  /** The stream sequence of the event that decided this row. */
  stream_seq: number;
  /** The canonical encoding of its chain entry (src/integrity/canonical.ts). */
  chain_version: number;
  /** The row's position in its tenant's hash chain (null only for a row written outside it). */
  chain_seq: number | null;
  /** The row's chain hash (see src/integrity/chain.ts). */
  chain_hash: string | null;
  /** The position of the version this row corrects, or null. */
  corrects: number | null;
  /** The position of the correction that replaced this row, or null while it is current. */
  corrected_by: number | null;
}

/** The columns {@linkcode toItem} reads, comma-separated, for other queries of session ends. */
export const ITEM_COLUMNS = `id, ${SESSION_END_COLUMNS}`;

/** The condition of a session's current version (what the list, the item and the stats read). */
export const CURRENT = "corrected_by IS NULL";

const COLUMNS = ITEM_COLUMNS;

/**
 * Builds the list query: the filters as equalities and a range on
 * `sort_time` (which equals `end_time` whenever `end_time` is known), so one
 * of the `(tenant_key, <filter key>, sort_time)` indexes (whose entries end with
 * the rowid, `id`) both selects
 * and orders the rows; then the keyset condition and `LIMIT limit + 1`.
 */
export function listSessionEndsSql(filter: ListFilter, page: PageRequest): InStatement {
  const where: string[] = [];
  const args: (string | number)[] = [];
  const equal = (column: string, value: string | undefined, sql = "?") => {
    if (value === undefined) return;
    where.push(`${column} = ${sql}`);
    args.push(value);
  };
  if (filter.tenantId !== undefined) {
    where.push(TENANT_IS);
    args.push(...tenantArgs(filter.tenantId));
  }
  if (!filter.allVersions) where.push(CURRENT);
  equal("device_key", filter.deviceId, KEY_OF);
  equal("user_key", filter.userId, KEY_OF);
  equal("reason", filter.reason);
  if (filter.since !== undefined || filter.until !== undefined) {
    where.push("end_time IS NOT NULL");
  }
  if (filter.since !== undefined) {
    where.push("sort_time >= ?", "end_time >= ?");
    args.push(filter.since, filter.since);
  }
  if (filter.until !== undefined) {
    // After a cursor the keyset bound is the tighter one: leave it to seek.
    if (page.after === undefined) {
      where.push("sort_time < ?");
      args.push(filter.until);
    }
    where.push("end_time < ?");
    args.push(filter.until);
  }
  if (page.after !== undefined) {
    where.push("(sort_time, id) < (?, ?)");
    args.push(page.after.sortTime, page.after.id);
  }
  args.push(page.limit + 1);
  return {
    sql: `SELECT ${COLUMNS} FROM session_ends${
      where.length ? ` WHERE ${where.join(" AND ")}` : ""
    } ORDER BY sort_time DESC, id DESC LIMIT ?`,
    args,
  };
}

/** Builds the lookup of a session's current version, within one tenant unless `tenantId` is absent. */
export function getSessionEndSql(sessionId: string, tenantId?: string): InStatement {
  const where = `session_id = ? AND ${CURRENT}`;
  return tenantId === undefined
    ? { sql: `SELECT ${COLUMNS} FROM session_ends WHERE ${where}`, args: [sessionId] }
    : {
      sql: `SELECT ${COLUMNS} FROM session_ends WHERE ${where} AND tenant_id = ?`,
      args: [sessionId, tenantId],
    };
}

function nullableTime(row: Row, column: string): string | null {
  const millis = nullableNumber(row, column);
  return millis === null ? null : formatRfc3339(millis);
}

/** The sort key of a row selected by these queries. */
export function sortKeyOf(row: Row): SortKey {
  return { sortTime: Number(row.sort_time), id: Number(row.id) };
}

/** Maps a row selected by these queries to the API item. */
export function toItem(row: Row): SessionEndItem {
  return {
    session_id: text(row, "session_id"),
    tenant_id: text(row, "tenant_id"),
    device_id: text(row, "device_id"),
    user_id: nullableText(row, "user_id"),
    action: "ssh_session_end",
    start_time: nullableTime(row, "start_time"),
    end_time: nullableTime(row, "end_time"),
    duration_seconds: nullableNumber(row, "duration_seconds"),
    source_ip: nullableText(row, "source_ip"),
    source_port: nullableNumber(row, "source_port"),
    reason: nullableText(row, "reason"),
    recorded_at: formatRfc3339(Number(row.recorded_at)),
    anomalies: anomalies(row, "anomalies"),
    stream_seq: Number(row.stream_seq),
    chain_version: Number(row.chain_version),
    chain_seq: nullableNumber(row, "chain_seq"),
    chain_hash: nullableText(row, "chain_hash"),
    corrects: nullableNumber(row, "corrects"),
    corrected_by: nullableNumber(row, "corrected_by"),
  };
}

/**
 * Aggregates of session ends per device, user, reason or UTC day, computed by
 * SQLite with GROUP BY: pure SQL builder and row mapping.
 *
 * Null handling: a row whose `user_id` or `reason` is null is counted under
 * the key `null`; grouped by `day` (the UTC date of `end_time`), rows without
 * an `end_time` are counted under `null` too (with `since`/`until` they are
 * excluded, as in the list). Durations are aggregated over the rows that have
 * one: `total_duration_seconds` is 0 and the average and maximum are `null`
 * when no row of the group has a duration.
 *
 * @module
 */
import type { InStatement, Row } from "@libsql/client";
import { TENANT_IS, tenantArgs } from "./id_keys.ts";
import { CURRENT } from "./queries.ts";
import { nullableNumber, nullableText } from "./row.ts";

/** Groupings of `GET /v1/session-ends/stats`. */
export const STATS_GROUPS = ["device_id", "user_id", "reason", "day"] as const;
/** One of {@linkcode STATS_GROUPS}. */
export type StatsGroup = typeof STATS_GROUPS[number];

/** What the statistics cover. */
export interface StatsFilter {
  /** Only this tenant's rows; absent for an administrator reading every tenant. */
  tenantId?: string;
  /** `end_time >= since`, epoch ms; rows without an end time are then excluded. */
  since?: number;
  /** `end_time < until`, epoch ms; rows without an end time are then excluded. */
  until?: number;
}

/** One group of the answer. */
export interface StatsGroupItem {
  /** The device, user or reason, or the UTC date `YYYY-MM-DD`; null as documented above. */
  key: string | null;
  sessions: number;
  /** Sessions of the group that have a duration. */
  sessions_with_duration: number;
  total_duration_seconds: number;
  avg_duration_seconds: number | null;
  max_duration_seconds: number | null;
}

const KEY: Record<StatsGroup, string> = {
  device_id: "device_id",
  user_id: "user_id",
  reason: "reason",
  day: "strftime('%Y-%m-%d', end_time / 1000.0, 'unixepoch')",
};

/**
 * Builds the statistics query: one row per group, sessions descending, then
 * key ascending (null last); `limit + 1` rows, so the caller learns whether
 * groups were left out.
 */
export function statsSql(filter: StatsFilter, groupBy: StatsGroup, limit: number): InStatement {
  // Each session once: its current version (not the versions a correction replaced).
  const where: string[] = [CURRENT];
  const args: (string | number)[] = [];
  if (filter.tenantId !== undefined) {
    where.push(TENANT_IS);
    args.push(...tenantArgs(filter.tenantId));
  }
  if (filter.since !== undefined || filter.until !== undefined) {
    where.push("end_time IS NOT NULL");
  }
  if (filter.since !== undefined) {
    // sort_time equals end_time when end_time is known: lets the index narrow the range
    where.push("sort_time >= ?", "end_time >= ?");
    args.push(filter.since, filter.since);
  }
  if (filter.until !== undefined) {
    where.push("sort_time < ?", "end_time < ?");
    args.push(filter.until, filter.until);
  }
  args.push(limit + 1);
  return {
    sql: `SELECT ${KEY[groupBy]} AS key, count(*) AS sessions,
            count(duration_seconds) AS sessions_with_duration,
            coalesce(sum(duration_seconds), 0) AS total_duration_seconds,
            max(duration_seconds) AS max_duration_seconds
          FROM session_ends WHERE ${where.join(" AND ")}
          GROUP BY 1
          ORDER BY sessions DESC, key IS NULL, key ASC
          LIMIT ?`,
    args,
  };
}

/** Maps a row of {@linkcode statsSql} to the answer's group. */
export function toStatsGroup(row: Row): StatsGroupItem {
  const withDuration = Number(row.sessions_with_duration);
  const total = Number(row.total_duration_seconds);
  return {
    key: nullableText(row, "key"),
    sessions: Number(row.sessions),
    sessions_with_duration: withDuration,
    total_duration_seconds: total,
    avg_duration_seconds: withDuration === 0 ? null : total / withDuration,
    max_duration_seconds: nullableNumber(row, "max_duration_seconds"),
  };
}

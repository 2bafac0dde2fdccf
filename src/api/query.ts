/**
 * The query strings the read API accepts, validated with valibot: every
 * value checked, unknown and repeated parameters refused, each problem
 * reported with the parameter it concerns.
 *
 * @module
 */
import * as v from "valibot";
import { STATS_GROUPS, type StatsGroup } from "../store/stats.ts";
import { opaqueToken, pageSize, reason, sinceBeforeUntil, time, uuid } from "./query_values.ts";

/** Page size when `limit` is not given. */
export const DEFAULT_LIMIT = 50;
/** Largest accepted `limit`. */
export const MAX_LIMIT = 500;

/** The list filters of `GET /v1/session-ends` and its export, validated. */
export interface FilterQuery {
  /** Lower-case UUID; only an administrator may use it for another tenant. */
  tenantId?: string;
  /** Lower-case UUID. */
  deviceId?: string;
  /** Lower-case UUID. */
  userId?: string;
  reason?: string;
  /** Inclusive lower bound on `end_time`, epoch milliseconds. */
  since?: number;
  /** Exclusive upper bound on `end_time`, epoch milliseconds. */
  until?: number;
}

/** Filters and paging of `GET /v1/session-ends`, validated. */
export interface ListQuery extends FilterQuery {
  /** Page size, 1 to {@linkcode MAX_LIMIT}. */
  limit: number;
  /** The opaque cursor text, not yet verified. */
  cursor?: string;
}

/** Query of `GET /v1/session-ends/{session_id}`, validated. */
export interface GetQuery {
  tenantId?: string;
}

/** A parsed query, or the first problem with the parameter it concerns. */
export type QueryResult<T> =
  | { ok: true; value: T }
  | { ok: false; param: string; message: string };

const cursor = opaqueToken("cursor");

/** The list filters, shared by the list and the export. */
const filterEntries = {
  tenant_id: v.optional(uuid),
  device_id: v.optional(uuid),
  user_id: v.optional(uuid),
  reason: v.optional(reason),
  since: v.optional(time),
  until: v.optional(time),
};

/** The valibot schema of the list query (one string per parameter). */
export const ListQuerySchema = v.pipe(
  v.strictObject({
    ...filterEntries,
    limit: v.optional(pageSize(MAX_LIMIT), String(DEFAULT_LIMIT)),
    cursor: v.optional(cursor),
  }, "is not a known parameter"),
  v.forward(v.partialCheck([["since"], ["until"]], sinceBeforeUntil, "must be before until"), [
    "since",
  ]),
);

/** The valibot schema of the single-item query. */
export const GetQuerySchema = v.strictObject({ tenant_id: v.optional(uuid) });

/**
 * Validates a query string against a schema, after refusing a parameter
 * given twice (`?limit=1&limit=500`).
 */
export function parseQuery<
  TSchema extends v.GenericSchema<Record<string, string>, unknown>,
>(
  schema: TSchema,
  params: URLSearchParams,
): QueryResult<v.InferOutput<TSchema>> {
  // No prototype: `?__proto__=x` is an unknown parameter, not a prototype change.
  const record: Record<string, string> = Object.create(null);
  for (const [name, value] of params) {
    if (Object.hasOwn(record, name)) {
      return { ok: false, param: name, message: "is given more than once" };
    }
    record[name] = value;
  }
  const result = v.safeParse(schema, record);
  if (result.success) return { ok: true, value: result.output };
  const issue = result.issues[0];
  const param = v.getDotPath(issue) ?? "query";
  const message = issue.type === "strict_object" ? "is not a known parameter" : issue.message;
  return { ok: false, param, message };
}

/** The parsed list filters, keys in camelCase. */
function filterQueryOf(
  q: v.InferOutput<v.ObjectSchema<typeof filterEntries, undefined>>,
): FilterQuery {
  return {
    tenantId: q.tenant_id,
    deviceId: q.device_id,
    userId: q.user_id,
    reason: q.reason,
    since: q.since,
    until: q.until,
  };
}

/** Validates the list query; output keys in camelCase. */
export function parseListQuery(
  params: URLSearchParams,
): QueryResult<ListQuery> {
  const result = parseQuery(ListQuerySchema, params);
  if (!result.ok) return result;
  const q = result.value;
  return { ok: true, value: { ...filterQueryOf(q), limit: q.limit, cursor: q.cursor } };
}

/** Validates the single-item query. */
export function parseGetQuery(params: URLSearchParams): QueryResult<GetQuery> {
  const result = parseQuery(GetQuerySchema, params);
  return result.ok ? { ok: true, value: { tenantId: result.value.tenant_id } } : result;
}

/** Formats of `GET /v1/session-ends/export`. */
export const EXPORT_FORMATS = ["csv", "ndjson"] as const;
/** One of {@linkcode EXPORT_FORMATS}. */
export type ExportFormat = typeof EXPORT_FORMATS[number];

/** Filters and format of `GET /v1/session-ends/export`, validated. */
export interface ExportQuery extends FilterQuery {
  format: ExportFormat;
}

/** The valibot schema of the export query: the list filters and `format`, no paging. */
export const ExportQuerySchema = v.pipe(
  v.strictObject({
    ...filterEntries,
    format: v.optional(
      v.picklist(EXPORT_FORMATS, `must be one of ${EXPORT_FORMATS.join(", ")}`),
      "csv",
    ),
  }, "is not a known parameter"),
  v.forward(v.partialCheck([["since"], ["until"]], sinceBeforeUntil, "must be before until"), [
    "since",
  ]),
);

/** Validates the export query; output keys in camelCase. */
export function parseExportQuery(params: URLSearchParams): QueryResult<ExportQuery> {
  const result = parseQuery(ExportQuerySchema, params);
  if (!result.ok) return result;
  const q = result.value;
  return { ok: true, value: { ...filterQueryOf(q), format: q.format } };
}

/** Groups answered when `limit` is not given. */
export const DEFAULT_STATS_LIMIT = 100;
/** Largest accepted stats `limit`. */
export const MAX_STATS_LIMIT = 1000;

/** Query of `GET /v1/session-ends/stats`, validated. */
export interface StatsQuery {
  tenantId?: string;
  groupBy: StatsGroup;
  since?: number;
  until?: number;
  /** Most groups answered, 1 to {@linkcode MAX_STATS_LIMIT}. */
  limit: number;
}

/** The valibot schema of the stats query. */
export const StatsQuerySchema = v.pipe(
  v.strictObject({
    tenant_id: v.optional(uuid),
    group_by: v.picklist(STATS_GROUPS, `must be one of ${STATS_GROUPS.join(", ")}`),
    since: v.optional(time),
    until: v.optional(time),
    limit: v.optional(pageSize(MAX_STATS_LIMIT), String(DEFAULT_STATS_LIMIT)),
  }, "is not a known parameter"),
  v.forward(v.partialCheck([["since"], ["until"]], sinceBeforeUntil, "must be before until"), [
    "since",
  ]),
);

/** Validates the stats query. */
export function parseStatsQuery(params: URLSearchParams): QueryResult<StatsQuery> {
  const result = parseQuery(StatsQuerySchema, params);
  if (!result.ok) return result;
  const q = result.value;
  return {
    ok: true,
    value: {
      tenantId: q.tenant_id,
      groupBy: q.group_by,
      since: q.since,
      until: q.until,
      limit: q.limit,
    },
  };
}

/** Feed page size when `limit` is not given. */
export const DEFAULT_FEED_LIMIT = 100;
/** Largest accepted feed `limit`. */
export const MAX_FEED_LIMIT = 1000;

/** Query of `GET /v1/session-ends/feed`, validated. */
export interface FeedQuery {
  tenantId?: string;
  /** The opaque feed token, not yet verified. */
  after?: string;
  limit: number;
}

/** The valibot schema of the feed query. */
export const FeedQuerySchema = v.strictObject({
  tenant_id: v.optional(uuid),
  after: v.optional(opaqueToken("feed token")),
  limit: v.optional(pageSize(MAX_FEED_LIMIT), String(DEFAULT_FEED_LIMIT)),
}, "is not a known parameter");

/** Validates the feed query. */
export function parseFeedQuery(params: URLSearchParams): QueryResult<FeedQuery> {
  const result = parseQuery(FeedQuerySchema, params);
  if (!result.ok) return result;
  const q = result.value;
  return { ok: true, value: { tenantId: q.tenant_id, after: q.after, limit: q.limit } };
}

/** Dead letters per page when `limit` is not given. */
export const DEFAULT_DEAD_LETTER_LIMIT = 20;
/** Largest accepted dead-letter `limit` (payloads may be large). */
export const MAX_DEAD_LETTER_LIMIT = 100;

/** Query of `GET /v1/dead-letters`, validated. */
export interface DeadLetterListQuery {
  limit: number;
  cursor?: string;
}

/** The valibot schema of the dead-letter list query. */
export const DeadLetterListQuerySchema = v.strictObject({
  limit: v.optional(pageSize(MAX_DEAD_LETTER_LIMIT), String(DEFAULT_DEAD_LETTER_LIMIT)),
  cursor: v.optional(cursor),
}, "is not a known parameter");

/** Validates the dead-letter list query. */
export function parseDeadLetterListQuery(
  params: URLSearchParams,
): QueryResult<DeadLetterListQuery> {
  const result = parseQuery(DeadLetterListQuerySchema, params);
  return result.ok
    ? { ok: true, value: { limit: result.value.limit, cursor: result.value.cursor } }
    : result;
}

/** The valibot schema of a query that takes no parameter. */
export const EmptyQuerySchema = v.strictObject({}, "is not a known parameter");

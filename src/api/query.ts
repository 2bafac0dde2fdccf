/**
 * The query strings the read API accepts, validated with valibot: every
 * value checked, unknown and repeated parameters refused, each problem
 * reported with the parameter it concerns.
 *
 * @module
 */
import * as v from "valibot";
import { MAX_REASON_LENGTH } from "../event.ts";
import { parseRfc3339 } from "../rfc3339.ts";
import { MAX_CURSOR_LENGTH } from "./cursor.ts";

/** Page size when `limit` is not given. */
export const DEFAULT_LIMIT = 50;
/** Largest accepted `limit`. */
export const MAX_LIMIT = 500;

/** Filters and paging of `GET /v1/session-ends`, validated. */
export interface ListQuery {
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

const uuid = v.pipe(
  v.string(),
  v.uuid("must be a UUID"),
  v.toLowerCase(),
);

const time = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const millis = parseRfc3339(dataset.value);
    if (millis === undefined) {
      addIssue({
        message: "must be an RFC 3339 time such as 2026-03-12T10:00:00Z",
      });
      return NEVER;
    }
    return millis;
  }),
);

const reason = v.pipe(
  v.string(),
  v.check(
    (s) =>
      s.length <= MAX_REASON_LENGTH &&
      /^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/.test(s),
    `must be a short printable string (at most ${MAX_REASON_LENGTH} characters)`,
  ),
);

const limit = v.pipe(
  v.string(),
  v.regex(/^\d{1,4}$/, `must be an integer from 1 to ${MAX_LIMIT}`),
  v.transform(Number),
  v.number(),
  v.minValue(1, `must be an integer from 1 to ${MAX_LIMIT}`),
  v.maxValue(MAX_LIMIT, `must be an integer from 1 to ${MAX_LIMIT}`),
);

const cursor = v.pipe(
  v.string(),
  v.maxLength(MAX_CURSOR_LENGTH, "is not a cursor this API issued"),
  v.regex(
    /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/,
    "is not a cursor this API issued",
  ),
);

/** The valibot schema of the list query (one string per parameter). */
export const ListQuerySchema = v.pipe(
  v.strictObject({
    tenant_id: v.optional(uuid),
    device_id: v.optional(uuid),
    user_id: v.optional(uuid),
    reason: v.optional(reason),
    since: v.optional(time),
    until: v.optional(time),
    limit: v.optional(limit, String(DEFAULT_LIMIT)),
    cursor: v.optional(cursor),
  }, "is not a known parameter"),
  v.forward(
    v.partialCheck(
      [["since"], ["until"]],
      ({ since, until }) => since === undefined || until === undefined || since < until,
      "must be before until",
    ),
    ["since"],
  ),
);

/** The valibot schema of the single-item query. */
export const GetQuerySchema = v.strictObject({ tenant_id: v.optional(uuid) });

/** Validates a session id from the path: a UUID, lower-cased. */
export const SessionIdSchema = uuid;

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

/** Validates the list query; output keys in camelCase. */
export function parseListQuery(
  params: URLSearchParams,
): QueryResult<ListQuery> {
  const result = parseQuery(ListQuerySchema, params);
  if (!result.ok) return result;
  const q = result.value;
  return {
    ok: true,
    value: {
      tenantId: q.tenant_id,
      deviceId: q.device_id,
      userId: q.user_id,
      reason: q.reason,
      since: q.since,
      until: q.until,
      limit: q.limit,
      cursor: q.cursor,
    },
  };
}

/** Validates the single-item query. */
export function parseGetQuery(params: URLSearchParams): QueryResult<GetQuery> {
  const result = parseQuery(GetQuerySchema, params);
  return result.ok ? { ok: true, value: { tenantId: result.value.tenant_id } } : result;
}

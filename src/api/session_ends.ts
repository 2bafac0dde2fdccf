/**
 * The session-end routes of the read API: the filtered, keyset-paged list
 * and the single-item lookup, both confined to the caller's scope.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { Database } from "../store/client.ts";
import {
  getSessionEndSql,
  type ListFilter,
  listSessionEndsSql,
  type SessionEndItem,
  sortKeyOf,
  toItem,
} from "../store/queries.ts";
import type { AuthEnv, AuthScope } from "./auth.ts";
import type { CursorCodec } from "./cursor.ts";
import { apiError, invalidParameter, notFound } from "./errors.ts";
import {
  type FilterQuery,
  parseGetQuery,
  parseListQuery,
  type QueryResult,
  SessionIdSchema,
} from "./query.ts";
import * as v from "valibot";

/** Options of {@linkcode sessionEndRoutes}. */
export interface SessionEndRoutesOptions {
  /** Where the rows are read. */
  db: Database;
  /** Signs and checks `next_cursor`. */
  cursors: CursorCodec;
}

/** The list answer (SPEC §4). */
export interface SessionEndPage {
  items: SessionEndItem[];
  next_cursor: string | null;
}

/** Tells no-one but the caller to keep audit data. */
const PRIVATE = { "Cache-Control": "private, no-store" };

/** The value of a parsed query, or a 400 naming the parameter at fault. */
export function valid<T>(result: QueryResult<T>): T {
  if (!result.ok) throw invalidParameter(result.param, `${result.param} ${result.message}`);
  return result.value;
}

/**
 * The tenant a request reads: the token's own for a tenant token (asking
 * for another is a 403), the `tenant_id` parameter or every tenant for an
 * administrator.
 */
export function tenantFor(scope: AuthScope, requested: string | undefined): string | undefined {
  if (scope.kind === "admin") return requested;
  if (requested !== undefined && requested !== scope.tenantId) {
    throw apiError(403, "forbidden", "tenant_id names a tenant this token cannot read", {
      param: "tenant_id",
    });
  }
  return scope.tenantId;
}

/** The list filter of a request: its query's filters, confined by {@linkcode tenantFor}. */
export function listFilter(scope: AuthScope, query: FilterQuery): ListFilter {
  return {
    tenantId: tenantFor(scope, query.tenantId),
    deviceId: query.deviceId,
    userId: query.userId,
    reason: query.reason,
    since: query.since,
    until: query.until,
  };
}

/** The text a cursor is bound to: the caller's effective tenant and every filter. */
export function cursorBinding(filter: ListFilter): string {
  return JSON.stringify([
    filter.tenantId ?? "*",
    filter.deviceId ?? null,
    filter.userId ?? null,
    filter.reason ?? null,
    filter.since ?? null,
    filter.until ?? null,
  ]);
}

/** The request's query parameters. */
export function searchParams(c: Context): URLSearchParams {
  return new URL(c.req.url).searchParams;
}

/** `GET /` (the list) and `GET /:session_id`, relative to where they are mounted. */
export function sessionEndRoutes({ db, cursors }: SessionEndRoutesOptions): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();

  app.get("/", async (c) => {
    const query = valid(parseListQuery(searchParams(c)));
    const filter = listFilter(c.get("auth"), query);
    const binding = cursorBinding(filter);
    const after = query.cursor === undefined
      ? undefined
      : await cursors.decode(query.cursor, binding);
    if (query.cursor !== undefined && after === undefined) {
      throw invalidParameter(
        "cursor",
        "cursor is not valid for this query: pass back a next_cursor unchanged, with the same filters",
      );
    }
    const rs = await db.execute(listSessionEndsSql(filter, { limit: query.limit, after }));
    const rows = rs.rows.slice(0, query.limit);
    const next = rs.rows.length > query.limit
      ? await cursors.encode(sortKeyOf(rows[rows.length - 1]), binding)
      : null;
    const headers: Record<string, string> = { ...PRIVATE };
    if (next !== null) {
      const url = new URL(c.req.url);
      url.searchParams.set("cursor", next);
      headers["Link"] = `<${url.pathname}${url.search}>; rel="next"`;
    }
    const page: SessionEndPage = { items: rows.map(toItem), next_cursor: next };
    return c.json(page, 200, headers);
  });

  app.get("/:session_id", async (c) => {
    const id = v.safeParse(SessionIdSchema, c.req.param("session_id"));
    if (!id.success) throw invalidParameter("session_id", "session_id must be a UUID");
    const query = valid(parseGetQuery(searchParams(c)));
    const tenantId = tenantFor(c.get("auth"), query.tenantId);
    const rs = await db.execute(getSessionEndSql(id.output, tenantId));
    if (rs.rows.length === 0) throw notFound("no session end with this session_id");
    return c.json(toItem(rs.rows[0]), 200, PRIVATE);
  });

  return app;
}

/**
 * The session-end routes of the read API: the filtered, keyset-paged list
 * and the single-item lookup, both confined to the caller's scope.
 *
 * @module
 */
import { Hono } from "hono";
import type { Database } from "../store/client.ts";
import {
  getSessionEndSql,
  listSessionEndsSql,
  type SessionEndItem,
  sortKeyOf,
  toItem,
} from "../store/queries.ts";
import type { AuthEnv } from "./auth.ts";
import type { CursorCodec } from "./cursor.ts";
import { invalidParameter, notFound } from "./errors.ts";
import { SESSION_ID_PARAM } from "./path_params.ts";
import { parseGetQuery, parseListQuery } from "./query.ts";
import { cursorBinding, listFilter, PRIVATE, searchParams, tenantFor, valid } from "./request.ts";

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

/**
 * `GET /` (the list) and `GET /{session_id}` (a UUID: other names are left
 * to the routes mounted beside it), relative to where they are mounted.
 */
export function sessionEndRoutes({ db, cursors }: SessionEndRoutesOptions): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();

  app.get("/", async (c) => {
    const params = searchParams(c);
    const query = valid(parseListQuery(params));
    const filter = listFilter(c.get("auth"), query);
    const binding = cursorBinding(filter);
    const after = query.cursor === undefined ? undefined : cursors.decode(query.cursor, binding);
    if (query.cursor !== undefined && after === undefined) {
      throw invalidParameter(
        "cursor",
        "cursor is not valid for this query: pass back a next_cursor unchanged, with the same filters",
      );
    }
    const rs = await db.execute(listSessionEndsSql(filter, { limit: query.limit, after }));
    const rows = rs.rows.slice(0, query.limit);
    const next = rs.rows.length > query.limit
      ? cursors.encode(sortKeyOf(rows[rows.length - 1]), binding)
      : null;
    const page: SessionEndPage = { items: rows.map(toItem), next_cursor: next };
    if (next === null) return c.json(page, 200, PRIVATE);
    // The request's own parameters (parsed once, above), the cursor replaced.
    params.set("cursor", next);
    return c.json(page, 200, {
      ...PRIVATE,
      Link: `<${c.req.path}?${params}>; rel="next"`,
    });
  });

  app.get(`/${SESSION_ID_PARAM}`, async (c) => {
    // The route's pattern admits only UUIDs; stored ids are lower-case.
    const sessionId = c.req.param("session_id").toLowerCase();
    const query = valid(parseGetQuery(searchParams(c)));
    const tenantId = tenantFor(c.get("auth"), query.tenantId);
    const rs = await db.execute(getSessionEndSql(sessionId, tenantId));
    if (rs.rows.length === 0) throw notFound("no session end with this session_id");
    return c.json(toItem(rs.rows[0]), 200, PRIVATE);
  });

  return app;
}

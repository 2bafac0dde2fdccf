/**
 * `GET /v1/session-ends/stats`: sessions and durations per device, user,
 * reason or UTC day, aggregated by SQLite (null handling in `store/stats.ts`).
 *
 * @module
 */
import { Hono } from "hono";
import type { Database } from "../store/client.ts";
import { type StatsGroupItem, statsSql, toStatsGroup } from "../store/stats.ts";
import type { AuthEnv } from "./auth.ts";
import { parseStatsQuery } from "./query.ts";
import { PRIVATE, searchParams, tenantFor, valid } from "./request.ts";

/** The stats answer. */
export interface StatsAnswer {
  group_by: string;
  /** Sessions descending, then key ascending (null last). */
  groups: StatsGroupItem[];
  /** True when more groups matched than `limit`. */
  truncated: boolean;
}

/** Options of {@linkcode statsRoutes}. */
export interface StatsRoutesOptions {
  /** Where the rows are aggregated. */
  db: Database;
}

/** `GET /stats`, relative to where it is mounted. */
export function statsRoutes({ db }: StatsRoutesOptions): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.get("/stats", async (c) => {
    const query = valid(parseStatsQuery(searchParams(c)));
    const tenantId = tenantFor(c.get("auth"), query.tenantId);
    const rs = await db.execute(
      statsSql({ tenantId, since: query.since, until: query.until }, query.groupBy, query.limit),
    );
    const answer: StatsAnswer = {
      group_by: query.groupBy,
      groups: rs.rows.slice(0, query.limit).map(toStatsGroup),
      truncated: rs.rows.length > query.limit,
    };
    return c.json(answer, 200, PRIVATE);
  });
  return app;
}

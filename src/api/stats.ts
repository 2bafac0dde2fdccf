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
import type { Activity } from "./activity.ts";
import { partyOf } from "./fair_share.ts";
import { parseStatsQuery } from "./query.ts";
import { type QueryBudget, withinBudget } from "./query_budget.ts";
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
  /** The query's time budget, and the shutdown cut-off. */
  budget: QueryBudget;
  /** Who else is active: the reader's turns pause only then. */
  activity?: Activity;
}

/** `GET /stats`, relative to where it is mounted. */
export function statsRoutes({ db, budget, activity }: StatsRoutesOptions): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.get("/stats", async (c) => {
    const query = valid(parseStatsQuery(searchParams(c)));
    const tenantId = tenantFor(c.get("auth"), query.tenantId);
    const sql = statsSql(
      { tenantId, since: query.since, until: query.until },
      query.groupBy,
      query.limit,
    );
    const rows = await withinBudget(
      budget,
      c.req.raw.signal,
      (signal) => db.readInterruptible(sql, signal, partyOf(c.get("auth"), activity)),
    );
    const answer: StatsAnswer = {
      group_by: query.groupBy,
      groups: rows.slice(0, query.limit).map(toStatsGroup),
      truncated: rows.length > query.limit,
    };
    return c.json(answer, 200, PRIVATE);
  });
  return app;
}

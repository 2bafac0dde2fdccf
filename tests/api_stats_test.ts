import { deepStrictEqual } from "node:assert/strict";
import * as v from "valibot";
import {
  adminToken,
  BASE_TIME,
  type ErrorBodyJson,
  type FixtureRow,
  generateRows,
  get,
  insertRows,
  openTestDb,
  TENANT_A,
  TENANT_B,
  tenantToken,
} from "./api_fixture.ts";
import { makeLiveApp } from "./api_live_fixture.ts";
import { StatsAnswerSchema } from "../src/api/schemas.ts";

type Group = "device_id" | "user_id" | "reason" | "day";

function keyOf(row: FixtureRow, group: Group): string | null {
  switch (group) {
    case "device_id":
      return row.deviceId;
    case "user_id":
      return row.userId;
    case "reason":
      return row.reason;
    case "day":
      return row.endTime === null ? null : new Date(row.endTime).toISOString().slice(0, 10);
  }
}

/** The documented answer, computed in plain JavaScript. */
function expectedStats(rows: FixtureRow[], group: Group, since?: number, until?: number) {
  const kept = rows.filter((r) =>
    (since === undefined && until === undefined) ||
    (r.endTime !== null && (since === undefined || r.endTime >= since) &&
      (until === undefined || r.endTime < until))
  );
  const groups = new Map<string | null, { sessions: number; durations: number[] }>();
  for (const row of kept) {
    const key = keyOf(row, group);
    const g = groups.get(key) ?? { sessions: 0, durations: [] };
    g.sessions++;
    if (row.startTime !== null && row.endTime !== null && row.endTime >= row.startTime) {
      g.durations.push(Math.trunc((row.endTime - row.startTime) / 1000));
    }
    groups.set(key, g);
  }
  return [...groups].map(([key, g]) => {
    const total = g.durations.reduce((a, b) => a + b, 0);
    return {
      key,
      sessions: g.sessions,
      sessions_with_duration: g.durations.length,
      total_duration_seconds: total,
      avg_duration_seconds: g.durations.length === 0 ? null : total / g.durations.length,
      max_duration_seconds: g.durations.length === 0 ? null : Math.max(...g.durations),
    };
  }).sort((a, b) =>
    b.sessions - a.sessions ||
    (a.key === b.key ? 0 : a.key === null ? 1 : b.key === null ? -1 : a.key < b.key ? -1 : 1)
  );
}

Deno.test("stats match an independent computation in JavaScript", async (t) => {
  const store = await openTestDb();
  try {
    // end times across three UTC days, some rows without end time, user or reason
    const rowsA = generateRows(TENANT_A, 400, 71, 0xa7).map((r, i) =>
      r.endTime === null ? r : {
        ...r,
        endTime: r.endTime + (i % 3) * 86_400_000 - 3_600_000,
        startTime: r.startTime === null ? null : r.startTime + (i % 3) * 86_400_000 - 3_600_000,
      }
    );
    const rowsB = generateRows(TENANT_B, 50, 72, 0xb7);
    await insertRows(store.db, [...rowsA, ...rowsB]);
    const { app } = makeLiveApp(store.db);
    const tokenA = await tenantToken(TENANT_A);

    for (const group of ["device_id", "user_id", "reason", "day"] as const) {
      await t.step(`group_by=${group}`, async () => {
        const res = await get(app, `/v1/session-ends/stats?group_by=${group}`, tokenA);
        deepStrictEqual(res.status, 200);
        const body = v.parse(StatsAnswerSchema, await res.json());
        deepStrictEqual(body, {
          group_by: group,
          groups: expectedStats(rowsA, group),
          truncated: false,
        });
      });
    }

    await t.step("since/until narrow on end_time and leave out rows without one", async () => {
      const since = BASE_TIME + 30 * 60_000;
      const until = BASE_TIME + 86_400_000 + 15 * 60_000;
      const q = `since=${new Date(since).toISOString()}&until=${new Date(until).toISOString()}`;
      for (const group of ["reason", "day"] as const) {
        const res = await get(app, `/v1/session-ends/stats?group_by=${group}&${q}`, tokenA);
        const body = await res.json();
        deepStrictEqual(body.groups, expectedStats(rowsA, group, since, until));
      }
    });

    await t.step("limit keeps the first groups and says so", async () => {
      const res = await get(app, "/v1/session-ends/stats?group_by=reason&limit=2", tokenA);
      const body = await res.json();
      deepStrictEqual(body.groups, expectedStats(rowsA, "reason").slice(0, 2));
      deepStrictEqual(body.truncated, true);
    });

    await t.step("an admin reads every tenant, or one with tenant_id", async () => {
      const admin = await adminToken();
      const all = await (await get(app, "/v1/session-ends/stats?group_by=device_id", admin))
        .json();
      deepStrictEqual(all.groups, expectedStats([...rowsA, ...rowsB], "device_id"));
      const onlyB = await (await get(
        app,
        `/v1/session-ends/stats?group_by=device_id&tenant_id=${TENANT_B}`,
        admin,
      )).json();
      deepStrictEqual(onlyB.groups, expectedStats(rowsB, "device_id"));
    });

    await t.step("a tenant cannot read another tenant; bad input is a 400", async () => {
      const foreign = await get(
        app,
        `/v1/session-ends/stats?group_by=day&tenant_id=${TENANT_B}`,
        tokenA,
      );
      deepStrictEqual(foreign.status, 403);
      for (
        const [q, param] of [
          ["", "group_by"],
          ["group_by=tenant_id", "group_by"],
          ["group_by=day&limit=0", "limit"],
          ["group_by=day&device_id=x", "device_id"],
          ["group_by=day&since=yesterday", "since"],
        ]
      ) {
        const res = await get(app, `/v1/session-ends/stats?${q}`, tokenA);
        deepStrictEqual(res.status, 400, q);
        deepStrictEqual((await res.json() as ErrorBodyJson).error.param, param, q);
      }
      deepStrictEqual((await get(app, "/v1/session-ends/stats?group_by=day")).status, 401);
    });
  } finally {
    await store.close();
  }
});

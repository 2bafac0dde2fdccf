import { deepStrictEqual, ok } from "node:assert/strict";
import {
  adminToken,
  BASE_TIME,
  byListOrder,
  DEVICES,
  type ErrorBodyJson,
  expectedItem,
  type FixtureRow,
  generateRows,
  get,
  insertRows,
  makeApp,
  openTestDb,
  type PageBody,
  REASONS,
  TENANT_A,
  TENANT_B,
  TENANT_C,
  tenantToken,
  USERS,
  walk,
  withoutChain,
} from "./api_fixture.ts";

const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

interface Filter {
  device_id?: string;
  user_id?: string;
  reason?: string;
  since?: number;
  until?: number;
}

function expected(rows: FixtureRow[], tenant: string | undefined, f: Filter): string[] {
  return rows
    .filter((r) => tenant === undefined || r.tenantId === tenant)
    .filter((r) => f.device_id === undefined || r.deviceId === f.device_id)
    .filter((r) => f.user_id === undefined || r.userId === f.user_id)
    .filter((r) => f.reason === undefined || r.reason === f.reason)
    .filter((r) => f.since === undefined || (r.endTime !== null && r.endTime >= f.since))
    .filter((r) => f.until === undefined || (r.endTime !== null && r.endTime < f.until))
    .sort(byListOrder)
    .map((r) => r.sessionId);
}

function queryOf(f: Filter): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(f)) {
    if (value !== undefined) params.set(key, typeof value === "number" ? iso(value) : value);
  }
  return params.toString();
}

Deno.test("listing and fetching session ends", async (t) => {
  const store = await openTestDb();
  const rowsA = generateRows(TENANT_A, 260, 7, 0xa1);
  const rowsB = generateRows(TENANT_B, 120, 8, 0xb2);
  // C shares A's device and user ids: isolation must hold on tenant, not on ids.
  const rowsC = generateRows(TENANT_C, 40, 9, 0xc3);
  const all = [...rowsA, ...rowsB, ...rowsC];
  try {
    await insertRows(store.db, all);
    const { app } = makeApp(store.db);
    const tokenA = await tenantToken(TENANT_A);
    const tokenB = await tenantToken(TENANT_B);
    const admin = await adminToken();

    await t.step(
      "the default page is the 50 newest of the tenant, newest end_time first",
      async () => {
        const res = await get(app, "/v1/session-ends", tokenA);
        deepStrictEqual(res.status, 200);
        deepStrictEqual(res.headers.get("content-type"), "application/json");
        const body = await res.json() as PageBody;
        deepStrictEqual(
          body.items.map((i) => i.session_id),
          expected(all, TENANT_A, {}).slice(0, 50),
        );
        ok(body.next_cursor !== null);
      },
    );

    await t.step("an item has exactly the SPEC fields, times in RFC 3339 UTC", async () => {
      const body = await (await get(app, "/v1/session-ends?limit=500", tokenA)).json() as PageBody;
      const byId = new Map(rowsA.map((r) => [r.sessionId, r]));
      deepStrictEqual(body.items.length, rowsA.length);
      for (const item of body.items) {
        deepStrictEqual(withoutChain(item), expectedItem(byId.get(item.session_id)!));
      }
      ok(body.items.some((i) => i.end_time === null), "fixture has rows without end_time");
      ok(body.items.some((i) => i.user_id === null), "fixture has rows without user_id");
    });

    await t.step("every filter and combinations match the expectation computed in JS", async () => {
      const filters: Filter[] = [
        ...DEVICES.map((device_id) => ({ device_id })),
        ...USERS.map((user_id) => ({ user_id })),
        ...REASONS.map((reason) => ({ reason })),
        { reason: "no-such-reason" },
        { since: BASE_TIME + 30 * 60_000 },
        { until: BASE_TIME + 30 * 60_000 },
        { since: BASE_TIME + 30 * 60_000, until: BASE_TIME + 31 * 60_000 },
        { since: BASE_TIME + 10 * 60_000, until: BASE_TIME + 90 * 60_000 },
        { device_id: DEVICES[0], user_id: USERS[1] },
        { device_id: DEVICES[1], reason: "idle_timeout" },
        { user_id: USERS[2], reason: "normal", since: BASE_TIME + 20 * 60_000 },
        { device_id: DEVICES[2], until: BASE_TIME + 60 * 60_000 },
        {
          device_id: DEVICES[0],
          user_id: USERS[0],
          reason: "normal",
          since: BASE_TIME,
          until: BASE_TIME + 120 * 60_000,
        },
      ];
      let nonEmpty = 0;
      for (const f of filters) {
        for (
          const [tenant, token] of [[TENANT_A, tokenA], [TENANT_B, tokenB], [
            undefined,
            admin,
          ]] as const
        ) {
          const want = expected(all, tenant, f);
          const { ids } = await walk(app, token, `${queryOf(f)}&limit=500`.replace(/^&/, ""));
          deepStrictEqual(ids, want, `${tenant ?? "admin"} ${queryOf(f)}`);
          if (want.length > 0) nonEmpty++;
        }
      }
      // the expectations are not vacuous
      ok(nonEmpty >= filters.length * 3 - 6, `only ${nonEmpty} non-empty expectations`);
    });

    await t.step("since is inclusive and until exclusive on end_time", async () => {
      const t0 = rowsA.find((r) => r.endTime !== null)!.endTime!;
      const at = await walk(app, tokenA, queryOf({ since: t0, until: t0 + 1 }));
      const exact = rowsA.filter((r) => r.endTime === t0).map((r) => r.sessionId).sort().reverse();
      deepStrictEqual(at.ids, exact);
      ok(exact.length > 0);
      const before = await walk(app, tokenA, queryOf({ until: t0 }));
      ok(before.ids.every((id) => !exact.includes(id)));
    });

    await t.step("times with an offset or a fraction are the same instant", async () => {
      const since = BASE_TIME + 45 * 60_000;
      const a = await walk(app, tokenA, `since=${encodeURIComponent("2026-03-12T02:45:00+02:00")}`);
      const b = await walk(app, tokenA, `since=${encodeURIComponent("2026-03-12T00:45:00.000Z")}`);
      deepStrictEqual(a.ids, expected(all, TENANT_A, { since }));
      deepStrictEqual(b.ids, a.ids);
    });

    await t.step("filters accept upper-case UUIDs", async () => {
      const { ids } = await walk(app, tokenA, `device_id=${DEVICES[0].toUpperCase()}`);
      deepStrictEqual(ids, expected(all, TENANT_A, { device_id: DEVICES[0] }));
    });

    await t.step("a tenant never lists another tenant's rows", async () => {
      const a = await walk(app, tokenA, "limit=500");
      const foreign = new Set([...rowsB, ...rowsC].map((r) => r.sessionId));
      ok(a.ids.every((id) => !foreign.has(id)));
      deepStrictEqual(a.ids.length, rowsA.length);
    });

    await t.step(
      "a tenant token asking for another tenant_id is 403 and sees nothing",
      async () => {
        for (const path of ["/v1/session-ends", `/v1/session-ends/${rowsB[0].sessionId}`]) {
          const res = await get(app, `${path}?tenant_id=${TENANT_B}`, tokenA);
          deepStrictEqual(res.status, 403);
          const body = await res.json() as ErrorBodyJson;
          deepStrictEqual(body.error.param, "tenant_id");
          ok(!JSON.stringify(body).includes(rowsB[0].sessionId.slice(-12)));
        }
      },
    );

    await t.step("a tenant token naming its own tenant_id is served as usual", async () => {
      const { ids } = await walk(app, tokenA, `tenant_id=${TENANT_A.toUpperCase()}&limit=500`);
      deepStrictEqual(ids, expected(all, TENANT_A, {}));
    });

    await t.step("an admin reads every tenant, or one with tenant_id", async () => {
      deepStrictEqual((await walk(app, admin, "limit=500")).ids, expected(all, undefined, {}));
      deepStrictEqual(
        (await walk(app, admin, `tenant_id=${TENANT_C}`)).ids,
        expected(all, TENANT_C, {}),
      );
      const r = await get(
        app,
        `/v1/session-ends/${rowsC[3].sessionId}?tenant_id=${TENANT_A}`,
        admin,
      );
      deepStrictEqual(r.status, 404);
      await r.body?.cancel();
    });

    await t.step("one item by session_id, any letter case", async () => {
      const row = rowsA[17];
      for (const id of [row.sessionId, row.sessionId.toUpperCase()]) {
        const res = await get(app, `/v1/session-ends/${id}`, tokenA);
        deepStrictEqual(res.status, 200);
        deepStrictEqual(withoutChain(await res.json()), expectedItem(row));
      }
      const viaAdmin = await get(app, `/v1/session-ends/${row.sessionId}`, admin);
      deepStrictEqual(withoutChain(await viaAdmin.json()), expectedItem(row));
    });

    await t.step("a foreign session_id is the same 404 as an unknown one", async () => {
      const foreign = await get(app, `/v1/session-ends/${rowsB[0].sessionId}`, tokenA);
      const unknown = await get(
        app,
        `/v1/session-ends/abcdef00-1234-4abc-8def-000000000000`,
        tokenA,
      );
      deepStrictEqual(foreign.status, 404);
      deepStrictEqual(unknown.status, 404);
      deepStrictEqual(await foreign.json(), await unknown.json());
    });

    await t.step("answers are not cacheable by shared caches", async () => {
      const res = await get(app, "/v1/session-ends?limit=1", tokenA);
      deepStrictEqual(res.headers.get("Cache-Control"), "private, no-store");
      await res.body?.cancel();
    });
  } finally {
    await store.close();
  }
});

Deno.test("an empty store lists nothing and no cursor", async () => {
  const store = await openTestDb();
  try {
    const { app } = makeApp(store.db);
    const res = await get(app, "/v1/session-ends", await tenantToken(TENANT_A));
    deepStrictEqual(await res.json(), { items: [], next_cursor: null });
    deepStrictEqual(res.headers.get("Link"), null);
  } finally {
    await store.close();
  }
});

import { deepStrictEqual, match, ok } from "node:assert/strict";
import {
  adminToken,
  BASE_TIME,
  byListOrder,
  DEVICES,
  type ErrorBodyJson,
  type FixtureRow,
  generateRows,
  get,
  insertRows,
  makeApp,
  openTestDb,
  type PageBody,
  TENANT_A,
  TENANT_B,
  tenantToken,
  walk,
} from "./api_fixture.ts";

function ordered(rows: FixtureRow[], keep: (r: FixtureRow) => boolean = () => true): string[] {
  return rows.filter(keep).sort(byListOrder).map((r) => r.sessionId);
}

Deno.test("walking next_cursor to null yields every matching row exactly once", async (t) => {
  const store = await openTestDb();
  const rowsA = generateRows(TENANT_A, 230, 21, 0xa1);
  const rowsB = generateRows(TENANT_B, 60, 22, 0xb2);
  try {
    await insertRows(store.db, [...rowsA, ...rowsB]);
    const { app } = makeApp(store.db);
    const tokenA = await tenantToken(TENANT_A);

    for (const size of [1, 7, 500]) {
      await t.step(`page size ${size}, no filter`, async () => {
        const { ids, pages } = await walk(app, tokenA, `limit=${size}`);
        deepStrictEqual(ids, ordered(rowsA, (r) => r.tenantId === TENANT_A));
        // no extra empty page at the end
        deepStrictEqual(pages, Math.max(1, Math.ceil(rowsA.length / size)));
      });
      await t.step(`page size ${size}, device and time filters`, async () => {
        const since = BASE_TIME + 15 * 60_000;
        const until = BASE_TIME + 100 * 60_000;
        const q = `limit=${size}&device_id=${DEVICES[1]}&since=${
          new Date(since).toISOString()
        }&until=${new Date(until).toISOString()}`;
        const { ids } = await walk(app, tokenA, q);
        deepStrictEqual(
          ids,
          ordered(
            rowsA,
            (r) =>
              r.deviceId === DEVICES[1] && r.endTime !== null && r.endTime >= since &&
              r.endTime < until,
          ),
        );
        ok(ids.length > 10);
      });
    }

    await t.step("the admin walk covers every tenant exactly once", async () => {
      const { ids } = await walk(app, await adminToken(), "limit=7");
      deepStrictEqual(ids, ordered([...rowsA, ...rowsB]));
    });

    await t.step("a page that fills exactly has no next_cursor", async () => {
      const res = await get(app, `/v1/session-ends?limit=${rowsA.length}`, tokenA);
      const body = await res.json() as PageBody;
      deepStrictEqual(body.items.length, rowsA.length);
      deepStrictEqual(body.next_cursor, null);
      deepStrictEqual(res.headers.get("Link"), null);
    });

    await t.step("the Link header points at the next page with the same filters", async () => {
      const res = await get(app, `/v1/session-ends?limit=5&device_id=${DEVICES[0]}`, tokenA);
      const body = await res.json() as PageBody;
      const link = res.headers.get("Link") ?? "";
      match(link, /^<\/v1\/session-ends\?[^>]+>; rel="next"$/);
      const target = link.slice(1, link.indexOf(">"));
      const params = new URL(target, "http://x").searchParams;
      deepStrictEqual(params.get("cursor"), body.next_cursor);
      deepStrictEqual(params.get("device_id"), DEVICES[0]);
      const next = await get(app, target, tokenA);
      deepStrictEqual(next.status, 200);
      const nextBody = await next.json() as PageBody;
      const want = ordered(rowsA, (r) => r.deviceId === DEVICES[0]);
      deepStrictEqual(nextBody.items.map((i) => i.session_id), want.slice(5, 10));
    });

    await t.step("a cursor only works with the filters it was issued for", async () => {
      const first =
        await (await get(app, `/v1/session-ends?limit=3&device_id=${DEVICES[0]}`, tokenA))
          .json() as PageBody;
      const cursor = encodeURIComponent(first.next_cursor!);
      for (
        const q of [
          `device_id=${DEVICES[1]}`,
          "",
          `device_id=${DEVICES[0]}&reason=normal`,
          `device_id=${DEVICES[0]}&since=2026-03-12T00:00:00Z`,
        ]
      ) {
        const res = await get(
          app,
          `/v1/session-ends?${q}&cursor=${cursor}`.replace("?&", "?"),
          tokenA,
        );
        deepStrictEqual(res.status, 400, q);
        deepStrictEqual((await res.json() as ErrorBodyJson).error.param, "cursor");
      }
      // the limit may change between pages
      const widerPage = await get(
        app,
        `/v1/session-ends?device_id=${DEVICES[0]}&limit=50&cursor=${cursor}`,
        tokenA,
      );
      deepStrictEqual(widerPage.status, 200);
      await widerPage.body?.cancel();
    });

    await t.step("another tenant cannot use a tenant's cursor", async () => {
      const first = await (await get(app, "/v1/session-ends?limit=3", tokenA)).json() as PageBody;
      const res = await get(
        app,
        `/v1/session-ends?cursor=${encodeURIComponent(first.next_cursor!)}`,
        await tenantToken(TENANT_B),
      );
      deepStrictEqual(res.status, 400);
      deepStrictEqual((await res.json() as ErrorBodyJson).error.param, "cursor");
    });

    await t.step("an edited cursor is refused", async () => {
      const first = await (await get(app, "/v1/session-ends?limit=3", tokenA)).json() as PageBody;
      const cursor = first.next_cursor!;
      const [payload, mac] = cursor.split(".");
      const decoded = JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/")));
      decoded[1] += 60_000;
      const edited = btoa(JSON.stringify(decoded)).replaceAll("+", "-").replaceAll("/", "_")
        .replace(
          /=+$/,
          "",
        );
      const flip = (s: string) => s.slice(0, -2) + (s.at(-2) === "A" ? "B" : "A") + s.at(-1);
      for (
        const bad of [`${edited}.${mac}`, `${payload}.${flip(mac)}`, `${payload}.`, payload, mac]
      ) {
        const res = await get(app, `/v1/session-ends?cursor=${encodeURIComponent(bad)}`, tokenA);
        deepStrictEqual(res.status, 400, bad);
        deepStrictEqual((await res.json() as ErrorBodyJson).error.param, "cursor");
      }
    });
  } finally {
    await store.close();
  }
});

Deno.test("a walk while rows arrive repeats nothing and skips nothing that existed at the start", async () => {
  const store = await openTestDb();
  const initial = generateRows(TENANT_A, 200, 31, 0xa1);
  try {
    await insertRows(store.db, initial);
    const { app } = makeApp(store.db);
    const token = await tenantToken(TENANT_A);
    for (const size of [1, 7, 500]) {
      // Arrivals during the walk: newer rows, rows with the same times as existing
      // ones (ties on sort_time), and late rows for the past (end times inside the
      // range already walked and the range still ahead).
      const arrivals = generateRows(TENANT_A, 150, 40 + size, 0xf0 + size).map((r, i) => ({
        ...r,
        endTime: r.endTime === null ? null : r.endTime + (i % 3 === 0 ? 3 * 3600_000 : 0),
      }));
      let next = 0;
      const { ids } = await walk(app, token, `limit=${size}`, async (page) => {
        if (page % Math.max(1, Math.floor(200 / size / 10)) !== 0 || next >= arrivals.length) {
          return;
        }
        await insertRows(store.db, arrivals.slice(next, next + 15));
        next += 15;
      });
      ok(next > 0, "rows arrived during the walk");
      deepStrictEqual(new Set(ids).size, ids.length, `page size ${size}: a row was repeated`);
      const seen = new Set(ids);
      const missing = initial.filter((r) => !seen.has(r.sessionId));
      deepStrictEqual(missing.map((r) => r.sessionId), [], `page size ${size}: rows skipped`);
      // whatever else it returned are rows that arrived, in list order
      const known = new Map([...initial, ...arrivals].map((r) => [r.sessionId, r]));
      const walked = ids.map((id) => known.get(id)!);
      ok(walked.every(Boolean));
      deepStrictEqual(ids, [...walked].sort(byListOrder).map((r) => r.sessionId));
      initial.push(...arrivals.slice(0, next));
    }
  } finally {
    await store.close();
  }
});

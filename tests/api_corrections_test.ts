/**
 * What the read API shows of the issue-16 rules: anomalies and source ports
 * on every item (list, item, export, feed), and a session corrected by an
 * earlier event shown once, with its effective values, by the list (and its
 * filters), the item and the stats, while the export and the feed carry
 * every version.
 */
import * as v from "valibot";
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import {
  FeedPageSchema,
  SessionEndItemSchema,
  SessionEndPageSchema,
  StatsAnswerSchema,
} from "../src/api/schemas.ts";
import type { SessionEnd } from "../src/event.ts";
import { storeBatch } from "../src/store/commit.ts";
import {
  BASE_TIME,
  get,
  makeApp,
  openTestDb,
  TENANT_A,
  tenantToken,
  uuidFrom,
} from "./api_fixture.ts";
import { arriving } from "./store_fixture.ts";

function event(n: number, changes: Partial<SessionEnd> = {}): SessionEnd {
  return {
    sessionId: uuidFrom(0x1d, n),
    tenantId: TENANT_A,
    deviceId: uuidFrom(0xd0, 1),
    userId: null,
    startTime: BASE_TIME,
    endTime: BASE_TIME + n * 60_000,
    durationSeconds: n * 60,
    sourceIp: "198.51.100.23",
    sourcePort: null,
    reason: "normal",
    anomalies: [],
    ...changes,
  };
}

const IDLE = event(1, { reason: "idle_timeout", endTime: BASE_TIME + 50_000, durationSeconds: 50 });
const ODD = event(2, {
  sourcePort: 53122,
  userId: null,
  reason: "déconnecté",
  anomalies: [{ field: "user_id", value: "nobody", problem: "not a UUID" }],
});

Deno.test("anomalies, ports and corrections as the API shows them", async (t) => {
  const store = await openTestDb();
  try {
    // The `normal` of the idle pair (stream sequence 21) is stored first, then its earlier
    // `idle_timeout` (20) arrives: a correction.
    await storeBatch(
      store.db,
      [
        arriving(
          { ...IDLE, reason: "normal", endTime: BASE_TIME + 60_000, durationSeconds: 60 },
          21,
        ),
        arriving(ODD, 22),
      ],
      [],
      BASE_TIME + 100_000,
    );
    await storeBatch(store.db, [arriving(IDLE, 20)], [], BASE_TIME + 200_000);
    const { app } = makeApp(store.db);
    const token = await tenantToken(TENANT_A);
    const json = async (path: string) => {
      const res = await get(app, path, token);
      equal(res.status, 200, path);
      return await res.json();
    };

    await t.step("the list shows each session once, as its earliest event decided", async () => {
      const page = v.parse(SessionEndPageSchema, await json("/v1/session-ends"));
      deepStrictEqual(page.items.map((i) => [i.session_id, i.reason]), [
        [ODD.sessionId, "déconnecté"],
        [IDLE.sessionId, "idle_timeout"],
      ]);
      const idle = page.items[1];
      deepStrictEqual(
        [idle.end_time, idle.duration_seconds, idle.stream_seq, idle.corrects, idle.corrected_by],
        ["2026-03-12T00:00:50Z", 50, 20, 1, null],
      );
      const odd = page.items[0];
      deepStrictEqual([odd.source_ip, odd.source_port, odd.user_id], [
        "198.51.100.23",
        53122,
        null,
      ]);
      deepStrictEqual(odd.anomalies, [{
        field: "user_id",
        value: "nobody",
        problem: "not a UUID",
      }]);
    });

    await t.step(
      "list filters see the effective value: reason=idle_timeout, not normal",
      async () => {
        const ids = async (q: string) =>
          (await json(`/v1/session-ends?${q}`)).items.map((i: { session_id: string }) =>
            i.session_id
          );
        deepStrictEqual(await ids("reason=idle_timeout"), [IDLE.sessionId]);
        deepStrictEqual(await ids("reason=normal"), []);
        deepStrictEqual(await ids(`reason=${encodeURIComponent("déconnecté")}`), [ODD.sessionId]);
        deepStrictEqual(await ids("until=2026-03-12T00:00:55Z"), [IDLE.sessionId]);
      },
    );

    await t.step("the item is the current version", async () => {
      const item = v.parse(SessionEndItemSchema, await json(`/v1/session-ends/${IDLE.sessionId}`));
      equal(item.reason, "idle_timeout");
      equal(item.corrects, 1);
    });

    await t.step("stats count each session once, under its effective reason", async () => {
      const stats = v.parse(
        StatsAnswerSchema,
        await json("/v1/session-ends/stats?group_by=reason"),
      );
      deepStrictEqual(
        stats.groups.map((g) => [g.key, g.sessions]).sort(),
        [["déconnecté", 1], ["idle_timeout", 1]],
      );
    });

    await t.step("the NDJSON export carries every version, each marked", async () => {
      const res = await get(app, "/v1/session-ends/export?format=ndjson", token);
      const items = (await res.text()).trimEnd().split("\n").map((l) =>
        v.parse(SessionEndItemSchema, JSON.parse(l))
      );
      const versions = items.filter((i) => i.session_id === IDLE.sessionId);
      deepStrictEqual(
        versions.map((i) => [i.reason, i.chain_seq, i.corrects, i.corrected_by]).sort(),
        [
          ["idle_timeout", 3, 1, null],
          ["normal", 1, null, 3],
        ],
      );
    });

    await t.step(
      "the CSV export has the anomalies as JSON text and the port in its column",
      async () => {
        const res = await get(app, "/v1/session-ends/export?format=csv", token);
        const lines = (await res.text()).split("\r\n");
        const header = lines[0].split(",");
        const odd = lines.find((l) => l.startsWith(ODD.sessionId));
        ok(odd, "the row is exported");
        ok(header.includes("source_port") && header.includes("anomalies"), lines[0]);
        ok(odd.includes(",198.51.100.23,53122,déconnecté,"), odd);
        ok(
          odd.includes(
            '"[{""field"":""user_id"",""value"":""nobody"",""problem"":""not a UUID""}]"',
          ),
          odd,
        );
      },
    );

    await t.step("the feed gives both versions in the order stored", async () => {
      const page = v.parse(FeedPageSchema, await json("/v1/session-ends/feed"));
      deepStrictEqual(page.items.map((i) => [i.session_id, i.reason]), [
        [IDLE.sessionId, "normal"],
        [ODD.sessionId, "déconnecté"],
        [IDLE.sessionId, "idle_timeout"],
      ]);
      equal(page.items[0].corrected_by, 3, "read now, the first version says what replaced it");
    });
  } finally {
    await store.close();
  }
});

import { deepStrictEqual, ok } from "node:assert/strict";
import * as v from "valibot";
import {
  adminToken,
  BASE_TIME,
  type ErrorBodyJson,
  get,
  openTestDb,
  TENANT_A,
  tenantToken,
} from "./api_fixture.ts";
import { makeLiveApp } from "./api_live_fixture.ts";
import { DeadLetterPageSchema, ReplayAnswerSchema } from "../src/api/schemas.ts";
import { storeBatch } from "../src/store/commit.ts";
import type { DeadLetter } from "../src/store/session_end_sql.ts";
import type { Hono } from "hono";

const encoder = new TextEncoder();
const VALID_ID = "5e5e5e5e-0000-4000-8000-000000000001";

function event(sessionId: string) {
  return JSON.stringify({
    session_id: sessionId,
    tenant_id: TENANT_A,
    device_id: "d5d5d5d5-0000-4000-8000-000000000001",
    user_id: "",
    start_time: "2026-03-12T10:00:00Z",
    end_time: "2026-03-12T10:15:00Z",
    source_ip: "203.0.113.9",
    reason: "normal",
  });
}

function letter(seq: number, payload: Uint8Array, error: string): DeadLetter {
  return {
    stream: "DEVICE_EVENTS",
    streamSeq: seq,
    subject: `audit.session.end.${seq}`,
    payload,
    error,
    receivedAt: BASE_TIME + seq * 1000,
  };
}

function replay(app: Hono, id: number, token: string) {
  return app.request(`/v1/dead-letters/${id}/replay`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
}

Deno.test("dead letters: admin-only list, payload encodings, replay both ways", async (t) => {
  const store = await openTestDb();
  try {
    const binary = new Uint8Array([0xff, 0xfe, 0x00, 0x41]);
    await storeBatch(store.db, [], [
      letter(1, binary, "not JSON: bad bytes"),
      letter(2, encoder.encode('{"session_id":"nope"}'), "session_id: must be a UUID (old text)"),
      // quarantined by an older, stricter rule; valid today
      letter(3, encoder.encode(event(VALID_ID)), "reason: not allowed (old rule)"),
      // valid today, but its session is stored already
      letter(4, encoder.encode(event(VALID_ID)), "old rule"),
      ...Array.from({ length: 6 }, (_, i) => letter(10 + i, encoder.encode("x"), "not JSON")),
    ], BASE_TIME + 60_000);
    // Replays happen at a set wall-clock time, a day after the events.
    const replayTime = Date.UTC(2026, 2, 13, 9, 30, 0);
    const { app } = makeLiveApp(store.db, { clock: { now: () => replayTime } });
    const admin = await adminToken();

    await t.step("a tenant token is 403, no token 401", async () => {
      const tenant = await tenantToken(TENANT_A);
      for (
        const res of [await get(app, "/v1/dead-letters", tenant), await replay(app, 1, tenant)]
      ) {
        deepStrictEqual(res.status, 403);
        deepStrictEqual((await res.json() as ErrorBodyJson).error.code, "forbidden");
      }
      deepStrictEqual((await get(app, "/v1/dead-letters")).status, 401);
    });

    await t.step(
      "newest first, paged with a signed cursor, payload as text or base64",
      async () => {
        const ids: number[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const q: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
          const res = await get(app, `/v1/dead-letters?limit=3${q}`, admin);
          deepStrictEqual(res.status, 200);
          const page = v.parse(DeadLetterPageSchema, await res.json());
          ids.push(...page.items.map((i) => i.id));
          cursor = page.next_cursor;
          pages++;
        } while (cursor !== null);
        deepStrictEqual(ids, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        deepStrictEqual(pages, 4);
        const oldest = await (await get(app, "/v1/dead-letters?limit=100", admin)).json();
        const first = oldest.items.find((i: { id: number }) => i.id === 1);
        deepStrictEqual(first, {
          id: 1,
          stream: "DEVICE_EVENTS",
          stream_seq: 1,
          subject: "audit.session.end.1",
          reason: "not JSON: bad bytes",
          payload: "//4AQQ==",
          payload_encoding: "base64",
          received_at: "2026-03-12T00:00:01Z",
          quarantined_at: "2026-03-12T00:01:00Z",
          replayed_at: null,
          replay_outcome: null,
        });
        const second = oldest.items.find((i: { id: number }) => i.id === 2);
        deepStrictEqual(second.payload, '{"session_id":"nope"}');
        deepStrictEqual(second.payload_encoding, "utf8");
        const bad = await get(app, "/v1/dead-letters?cursor=abc.def", admin);
        deepStrictEqual(bad.status, 400);
        deepStrictEqual((await get(app, "/v1/dead-letters?limit=101", admin)).status, 400);
      },
    );

    await t.step("a payload valid today is stored, and the dead letter marked", async () => {
      const res = await replay(app, 3, admin);
      deepStrictEqual(res.status, 200);
      const body = v.parse(ReplayAnswerSchema, await res.json());
      ok(body.status === "stored");
      deepStrictEqual(body.item.session_id, VALID_ID);
      deepStrictEqual(body.item.end_time, "2026-03-12T10:15:00Z");
      deepStrictEqual(body.item.duration_seconds, 900);
      const item = await get(app, `/v1/session-ends/${VALID_ID}`, await tenantToken(TENANT_A));
      deepStrictEqual(item.status, 200);
      const list = await (await get(app, "/v1/dead-letters?limit=100", admin)).json();
      const marked = list.items.find((i: { id: number }) => i.id === 3);
      deepStrictEqual(marked.replay_outcome, "stored");
      deepStrictEqual(marked.replayed_at, "2026-03-13T09:30:00Z", "replayed at the service's time");
      // replaying it again is refused
      const again = await replay(app, 3, admin);
      deepStrictEqual(again.status, 409);
      deepStrictEqual((await again.json() as ErrorBodyJson).error.code, "already_replayed");
    });

    await t.step("valid today but already stored: duplicate, first row unchanged", async () => {
      const res = await replay(app, 4, admin);
      deepStrictEqual(res.status, 200);
      deepStrictEqual(await res.json(), { status: "duplicate", session_id: VALID_ID });
      const rows = await store.db.execute("SELECT count(*) AS n FROM session_ends");
      deepStrictEqual(Number(rows.rows[0].n), 1);
    });

    await t.step("still invalid: 422 with today's reason, kept with that reason", async () => {
      const res = await replay(app, 2, admin);
      deepStrictEqual(res.status, 422);
      const body = await res.json() as ErrorBodyJson;
      deepStrictEqual(body.error.code, "invalid_event");
      ok(body.error.message.includes("session_id"), body.error.message);
      ok(!body.error.message.includes("old text"));
      const list = await (await get(app, "/v1/dead-letters?limit=100", admin)).json();
      const kept = list.items.find((i: { id: number }) => i.id === 2);
      deepStrictEqual(kept.reason, body.error.message);
      deepStrictEqual(kept.replayed_at, null);
    });

    await t.step("unknown id 404, malformed id 400", async () => {
      deepStrictEqual((await replay(app, 999, admin)).status, 404);
      const res = await app.request("/v1/dead-letters/abc/replay", {
        method: "POST",
        headers: { Authorization: `Bearer ${admin}` },
      });
      deepStrictEqual(res.status, 400);
      deepStrictEqual((await res.json() as ErrorBodyJson).error.param, "id");
    });
  } finally {
    await store.close();
  }
});

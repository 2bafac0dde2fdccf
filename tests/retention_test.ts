import { assert, assertEquals, assertMatch } from "./assert.ts";
import { BASE_TIME, type FixtureRow, insertRows, openTestDb, TENANT_A } from "./api_fixture.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { Metrics } from "../src/metrics.ts";
import { purgeOnce, runRetention } from "../src/retention.ts";
import type { Database } from "../src/store/client.ts";
import { TENANT_IS, tenantArgs } from "../src/store/id_keys.ts";
import {
  type PurgeChunk,
  purgeExpired,
  RETENTION_TIME,
  retentionCutoff,
} from "../src/store/retention.ts";

const DAY = 86_400_000;
const CUTOFF = BASE_TIME;

function row(n: number, endTime: number | null, receivedAt = BASE_TIME): FixtureRow {
  return {
    sessionId: `0c0c0c0c-0000-4000-8000-${n.toString(16).padStart(12, "0")}`,
    tenantId: TENANT_A,
    deviceId: "d0000000-0000-4000-8000-000000000001",
    userId: null,
    startTime: null,
    endTime,
    sourceIp: null,
    reason: "normal",
    receivedAt,
  };
}

async function remaining(db: Database): Promise<string[]> {
  const rs = await db.execute("SELECT session_id FROM session_ends ORDER BY id");
  return rs.rows.map((r) => String(r.session_id));
}

Deno.test("retention purge boundaries", async (t) => {
  await t.step("strictly older than the cutoff goes; exactly at the cutoff stays", async () => {
    const store = await openTestDb();
    try {
      // Chain positions 1-3 expired (1 ms too old, 10 days old, no end_time but recorded too early).
      await insertRows(store.db, [row(4, CUTOFF - 10 * DAY), row(1, CUTOFF - 1)], BASE_TIME + DAY);
      await insertRows(store.db, [row(5, null)], CUTOFF - 1);
      // Kept: exactly at the cutoff, after it, recorded exactly at it.
      await insertRows(store.db, [row(2, CUTOFF), row(3, CUTOFF + 1)], BASE_TIME + DAY);
      await insertRows(store.db, [row(6, null)], CUTOFF);
      // Expired, but stored after kept rows: the chain is only cut at its start, so it waits.
      await insertRows(store.db, [row(8, CUTOFF - DAY)], BASE_TIME);
      await insertRows(store.db, [row(7, CUTOFF + DAY)], BASE_TIME);
      const result = await purgeExpired(store.db, CUTOFF);
      assertEquals(result.deleted, 3);
      assertEquals(result.maxRetentionTime, CUTOFF - 1);
      assertEquals(await remaining(store.db), [2, 3, 6, 8, 7].map((n) => row(n, 0).sessionId));
      // the largest id deleted was row 5 (stored third)
      assertEquals(result.maxId, 3);
      // The cut is recorded, so the rest of the chain verifies from there.
      const cut = await store.db.execute(
        "SELECT seq FROM chain_checkpoints WHERE kind = 'purge' ORDER BY id DESC LIMIT 1",
      );
      assertEquals(Number(cut.rows[0].seq), 3);
    } finally {
      await store.close();
    }
  });

  await t.step("a late row (old end_time, recorded now) is judged by its end_time", async () => {
    const store = await openTestDb();
    try {
      await insertRows(store.db, [row(1, CUTOFF - DAY), row(2, CUTOFF + DAY)], CUTOFF + 5 * DAY);
      await purgeExpired(store.db, CUTOFF);
      assertEquals(await remaining(store.db), [row(2, 0).sessionId]);
    } finally {
      await store.close();
    }
  });

  await t.step(
    "the newest-stored row survives until a newer row exists (ids never reused)",
    async () => {
      const store = await openTestDb();
      try {
        await insertRows(store.db, [row(1, CUTOFF - DAY), row(2, CUTOFF - DAY)]);
        const first = await purgeExpired(store.db, CUTOFF);
        assertEquals(first.deleted, 1);
        assertEquals(await remaining(store.db), [row(2, 0).sessionId]);
        await insertRows(store.db, [row(3, CUTOFF + DAY)]);
        await purgeExpired(store.db, CUTOFF);
        assertEquals(await remaining(store.db), [row(3, 0).sessionId]);
        const ids = await store.db.execute("SELECT id FROM session_ends");
        assertEquals(Number(ids.rows[0].id), 3);
      } finally {
        await store.close();
      }
    },
  );

  await t.step("bounded chunks, oldest first, each reported to the hook", async () => {
    const store = await openTestDb();
    try {
      const expired = Array.from({ length: 12 }, (_, i) => row(i + 1, CUTOFF - (12 - i) * 1000));
      await insertRows(store.db, [...expired, row(100, CUTOFF + DAY)]);
      const chunks: PurgeChunk[] = [];
      const result = await purgeExpired(store.db, CUTOFF, {
        chunkSize: 5,
        onChunk: (c) => {
          chunks.push(c);
        },
      });
      assertEquals(chunks.map((c) => c.deleted), [5, 5, 2]);
      assertEquals(chunks.map((c) => c.maxRetentionTime), [
        CUTOFF - 8000,
        CUTOFF - 3000,
        CUTOFF - 1000,
      ]);
      assertEquals(result, { deleted: 12, maxId: 12, maxRetentionTime: CUTOFF - 1000, chunks: 3 });
      assertEquals(await remaining(store.db), [row(100, 0).sessionId]);
    } finally {
      await store.close();
    }
  });

  await t.step("the purge walks the chain index instead of scanning the table", async () => {
    const store = await openTestDb();
    try {
      const plan = await store.db.execute({
        sql: `EXPLAIN QUERY PLAN SELECT id, ${RETENTION_TIME} FROM session_ends
              WHERE ${TENANT_IS} AND chain_seq IS NOT NULL ORDER BY chain_seq LIMIT 5`,
        args: tenantArgs(TENANT_A),
      });
      const text = plan.rows.map((r) => String(r.detail)).join("\n");
      assertMatch(text, /session_ends_by_chain/);
      assert(!/TEMP B-TREE/.test(text), text);
    } finally {
      await store.close();
    }
  });

  await t.step("bad arguments fail early, naming the parameter", async () => {
    const store = await openTestDb();
    try {
      let message = "";
      try {
        await purgeExpired(store.db, CUTOFF, { chunkSize: 0 });
      } catch (err) {
        message = (err as Error).message;
      }
      assertEquals(message, "'chunkSize' must be a positive integer: current value is 0");
    } finally {
      await store.close();
    }
  });
});

Deno.test("retention runner: RETENTION_DAYS, 0 keeps forever, counted in /metrics", async (t) => {
  await t.step("RETENTION_DAYS: default 365, 0 allowed, bad values name the variable", () => {
    assertEquals(loadConfig({}).retentionDays, 365);
    assertEquals(loadConfig({ RETENTION_DAYS: "0" }).retentionDays, 0);
    assertEquals(loadConfig({ RETENTION_DAYS: "30" }).retentionDays, 30);
    for (const bad of ["-1", "abc", "1.5", "36501"]) {
      try {
        loadConfig({ RETENTION_DAYS: bad });
        throw new Error(`accepted ${bad}`);
      } catch (err) {
        assert(err instanceof ConfigError, String(err));
        assertEquals(err.variable, "RETENTION_DAYS");
        assertMatch(err.message, /current value is/);
      }
    }
    assertEquals(retentionCutoff(0), undefined);
    assertEquals(retentionCutoff(2, BASE_TIME), BASE_TIME - 2 * DAY);
  });

  await t.step("one purge deletes what is older than the days, logged and counted", async () => {
    const store = await openTestDb();
    try {
      const now = BASE_TIME + 30 * DAY;
      await insertRows(store.db, [
        row(1, now - 31 * DAY),
        row(2, now - 29 * DAY),
        row(3, now),
      ]);
      const lines: string[] = [];
      const metrics = new Metrics();
      const deps = {
        db: store.db,
        days: 30,
        metrics,
        logger: createLogger("info", (line) => lines.push(line)),
        now: () => now,
      };
      const result = await purgeOnce(deps);
      assertEquals(result?.deleted, 1);
      assertEquals(metrics.get("session_audit_retention_purged_total"), 1);
      assertMatch(metrics.render(), /^session_audit_retention_purged_total 1$/m);
      assert(lines.some((l) => JSON.parse(l).msg === "retention purge"), lines.join("\n"));
      // 0 = keep forever: nothing is deleted, however old
      const forever = await purgeOnce({ ...deps, days: 0, now: () => now + 1000 * DAY });
      assertEquals(forever, undefined);
      assertEquals((await remaining(store.db)).length, 2);
    } finally {
      await store.close();
    }
  });

  await t.step("the runner purges shortly after start and stops at shutdown", async () => {
    const store = await openTestDb();
    try {
      await insertRows(store.db, [row(1, BASE_TIME - 400 * DAY), row(2, Date.now())]);
      const metrics = new Metrics();
      const stop = new AbortController();
      const running = runRetention({
        db: store.db,
        days: 365,
        metrics,
        logger: createLogger("error", () => {}),
        firstDelayMs: 10,
        intervalMs: 60_000,
      }, stop.signal);
      const deadline = Date.now() + 2_000;
      while (metrics.get("session_audit_retention_purged_total") === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assertEquals(metrics.get("session_audit_retention_purged_total"), 1);
      stop.abort();
      await running;
      // RETENTION_DAYS=0: returns at once
      await runRetention({
        db: store.db,
        days: 0,
        metrics,
        logger: createLogger("error", () => {}),
      }, new AbortController().signal);
    } finally {
      await store.close();
    }
  });
});

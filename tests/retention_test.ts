/**
 * Retention: which rows a purge deletes and in what chunks (the store), the
 * purge checkpoint each chunk commits with its delete, and the runner's
 * schedule (`RETENTION_DAYS`, an injected clock and sleep). A row's age is
 * when it was stored (`recorded_at`), whatever its `end_time` says.
 */
import { deepStrictEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { BASE_TIME, type FixtureRow, insertRows, openTestDb, TENANT_A } from "./api_fixture.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { checkpointText } from "../src/integrity/checkpoint_record.ts";
import { readCheckpoints } from "../src/integrity/checkpoints.ts";
import { keyringOf } from "../src/integrity/keyring.ts";
import { hmacSigner } from "../src/integrity/signing.ts";
import { createLogger } from "../src/log.ts";
import { Metrics } from "../src/metrics.ts";
import { purgeOnce, purgeWithCheckpoints, runRetention } from "../src/retention.ts";
import { FakeTimers } from "../src/testing/fake_timers.ts";
import { waitFor } from "./harness.ts";
import type { Database } from "../src/store/client.ts";
import { TENANT_IS, tenantArgs } from "../src/store/id_keys.ts";
import {
  type ChainCut,
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

/** The purge checkpoints stored, oldest first. */
async function purgeCheckpoints(db: Database) {
  return (await readCheckpoints(db, TENANT_A)).filter((c) => c.kind === "purge");
}

/** Runs `fn` on a fresh migrated database. */
async function withStore(fn: (db: Database) => Promise<void>): Promise<void> {
  const store = await openTestDb();
  try {
    await fn(store.db);
  } finally {
    await store.close();
  }
}

/** Twelve rows stored 12 s to 1 s before the cutoff, then one kept. */
async function twelveExpired(db: Database): Promise<void> {
  for (let i = 0; i < 12; i++) {
    await insertRows(db, [row(i + 1, CUTOFF - DAY)], CUTOFF - (12 - i) * 1000);
  }
  await insertRows(db, [row(100, CUTOFF - DAY)], CUTOFF + DAY);
}

Deno.test("retention purge boundaries", async (t) => {
  await t.step("stored strictly before the cutoff goes; stored exactly at it stays", async () => {
    await withStore(async (db) => {
      // Chain positions 1-3 expired: stored 10 days and 1 ms before the cutoff.
      await insertRows(db, [row(4, CUTOFF + DAY), row(1, null)], CUTOFF - 10 * DAY);
      await insertRows(db, [row(5, CUTOFF - DAY)], CUTOFF - 1);
      // Kept: stored exactly at the cutoff, and after it (whatever their end_time).
      await insertRows(db, [row(2, CUTOFF - 10 * DAY), row(3, null)], CUTOFF);
      await insertRows(db, [row(6, CUTOFF - DAY)], CUTOFF + 1);
      // Stored before the cutoff by a worker whose clock is behind, after kept rows: the chain
      // is only cut at its start, so it waits.
      await insertRows(db, [row(8, CUTOFF - DAY)], CUTOFF - DAY);
      await insertRows(db, [row(7, CUTOFF - DAY)], CUTOFF + DAY);
      const result = await purgeWithCheckpoints(db, CUTOFF);
      equal(result.deleted, 3);
      equal(result.maxRetentionTime, CUTOFF - 1);
      deepStrictEqual(await remaining(db), [2, 3, 6, 8, 7].map((n) => row(n, 0).sessionId));
      // the largest id deleted was row 5 (stored third)
      equal(result.maxId, 3);
      // The cut is recorded, so the rest of the chain verifies from there.
      deepStrictEqual((await purgeCheckpoints(db)).map((c) => c.seq), [3]);
    });
  });

  await t.step("a tenant with a row dated 2099 is purged all the same", async () => {
    await withStore(async (db) => {
      // One relay's clock wrote 2099 into the tenant's first row; every row was stored long ago.
      await insertRows(db, [row(1, Date.UTC(2099, 0, 1)), row(2, CUTOFF - DAY)], CUTOFF - 30 * DAY);
      await insertRows(db, [row(3, Date.UTC(2099, 0, 1))], CUTOFF - 20 * DAY);
      await insertRows(db, [row(4, CUTOFF - DAY)], CUTOFF + DAY);
      const result = await purgeWithCheckpoints(db, CUTOFF);
      equal(result.deleted, 3);
      deepStrictEqual(await remaining(db), [row(4, 0).sessionId]);
    });
  });

  await t.step(
    "a late row (an old end_time, stored now) is kept until it is old itself",
    async () => {
      await withStore(async (db) => {
        await insertRows(db, [row(1, CUTOFF - 400 * DAY), row(2, CUTOFF - DAY)], CUTOFF + 5 * DAY);
        equal((await purgeWithCheckpoints(db, CUTOFF)).deleted, 0);
        deepStrictEqual(await remaining(db), [row(1, 0).sessionId, row(2, 0).sessionId]);
      });
    },
  );

  await t.step(
    "the newest-stored row survives until a newer row exists (ids never reused)",
    async () => {
      await withStore(async (db) => {
        await insertRows(db, [row(1, CUTOFF - DAY), row(2, CUTOFF - DAY)], CUTOFF - DAY);
        const first = await purgeWithCheckpoints(db, CUTOFF);
        equal(first.deleted, 1);
        deepStrictEqual(await remaining(db), [row(2, 0).sessionId]);
        await insertRows(db, [row(3, CUTOFF + DAY)], CUTOFF + DAY);
        await purgeWithCheckpoints(db, CUTOFF);
        deepStrictEqual(await remaining(db), [row(3, 0).sessionId]);
        const ids = await db.execute("SELECT id FROM session_ends");
        equal(Number(ids.rows[0].id), 3);
      });
    },
  );

  await t.step("bounded chunks, oldest first, each reported to the hook", async () => {
    await withStore(async (db) => {
      await twelveExpired(db);
      const chunks: PurgeChunk[] = [];
      const result = await purgeWithCheckpoints(db, CUTOFF, {
        chunkSize: 5,
        onChunk: (c) => {
          chunks.push(c);
        },
      });
      deepStrictEqual(chunks.map((c) => c.deleted), [5, 5, 2]);
      deepStrictEqual(chunks.map((c) => c.maxRetentionTime), [
        CUTOFF - 8000,
        CUTOFF - 3000,
        CUTOFF - 1000,
      ]);
      deepStrictEqual(result, {
        deleted: 12,
        maxId: 12,
        maxRetentionTime: CUTOFF - 1000,
        chunks: 3,
      });
      deepStrictEqual(await remaining(db), [row(100, 0).sessionId]);
    });
  });

  await t.step("the purge walks the chain index instead of scanning the table", async () => {
    await withStore(async (db) => {
      const plan = await db.execute({
        sql: `EXPLAIN QUERY PLAN SELECT id, ${RETENTION_TIME} FROM session_ends
              WHERE ${TENANT_IS} AND chain_seq IS NOT NULL ORDER BY chain_seq LIMIT 5`,
        args: tenantArgs(TENANT_A),
      });
      const text = plan.rows.map((r) => String(r.detail)).join("\n");
      match(text, /session_ends_by_chain/);
      ok(!/TEMP B-TREE/.test(text), text);
    });
  });

  await t.step("bad arguments fail early, naming the parameter", async () => {
    await withStore(async (db) => {
      await rejects(purgeWithCheckpoints(db, CUTOFF, { chunkSize: 0 }), {
        message: "'chunkSize' must be a positive integer: current value is 0",
      });
      await rejects(purgeWithCheckpoints(db, NaN), {
        message: "'cutoffMs' must be a finite number: current value is NaN",
      });
    });
  });
});

Deno.test("each chunk's cut is recorded in the chunk's own transaction", async (t) => {
  await t.step("the store hands each chunk's last position and hash to recordCut", async () => {
    await withStore(async (db) => {
      await twelveExpired(db);
      const before = await db.execute(
        "SELECT tenant_id, chain_seq, chain_hash FROM session_ends WHERE chain_seq IN (5, 10, 12)",
      );
      const cuts: ChainCut[] = [];
      await purgeExpired(db, CUTOFF, {
        chunkSize: 5,
        recordCut: async (tx, cut) => {
          const first = await tx.execute("SELECT min(chain_seq) AS seq FROM session_ends");
          equal(Number(first.rows[0].seq), cut.seq + 1, "in the transaction, after the delete");
          cuts.push(cut);
        },
      });
      deepStrictEqual(
        cuts.map((c) => [c.tenantId, c.seq, c.hash]),
        before.rows.map((r) => [r.tenant_id, r.chain_seq, r.chain_hash]),
      );
    });
  });

  await t.step("a chunk whose cut cannot be recorded deletes nothing", async () => {
    await withStore(async (db) => {
      await twelveExpired(db);
      let calls = 0;
      await rejects(
        purgeExpired(db, CUTOFF, {
          chunkSize: 5,
          recordCut: () => Promise.reject(new Error(`no room for checkpoint ${++calls}`)),
        }),
        /no room for checkpoint 1/,
      );
      equal((await remaining(db)).length, 13);
    });
  });

  await t.step(
    "a failed checkpoint insert rolls its chunk back, and the chunks before stay",
    async () => {
      await withStore(async (db) => {
        await twelveExpired(db);
        await db.execute(`CREATE TRIGGER second_checkpoint_fails BEFORE INSERT ON chain_checkpoints
        WHEN NEW.seq = 10 BEGIN SELECT RAISE(ABORT, 'disk full'); END`);
        await rejects(purgeWithCheckpoints(db, CUTOFF, { chunkSize: 5 }), /disk full/);
        equal((await remaining(db)).length, 8, "the first chunk committed, the second did not");
        deepStrictEqual((await purgeCheckpoints(db)).map((c) => c.seq), [5]);
      });
    },
  );

  await t.step(
    "with a key, the purge checkpoint is signed, stamped by the clock given",
    async () => {
      await withStore(async (db) => {
        await twelveExpired(db);
        const signer = await hmacSigner("retention-test-signing-key-0123456789");
        const stamp = BASE_TIME + 42;
        await purgeWithCheckpoints(db, CUTOFF, {
          keyring: keyringOf(signer),
          clock: { now: () => stamp },
        });
        const [checkpoint, ...more] = await purgeCheckpoints(db);
        equal(more.length, 0);
        deepStrictEqual(
          [checkpoint.seq, checkpoint.createdAt, checkpoint.algorithm, checkpoint.keyId],
          [12, stamp, "hmac-sha256", signer.keyId],
        );
        ok(await signer.verify(checkpointText(checkpoint), checkpoint.signature));
      });
    },
  );
});

Deno.test("retention runner: RETENTION_DAYS, 0 keeps forever, counted in /metrics", async (t) => {
  await t.step("RETENTION_DAYS: default 365, 0 allowed, bad values name the variable", () => {
    equal(loadConfig({}).retentionDays, 365);
    equal(loadConfig({ RETENTION_DAYS: "0" }).retentionDays, 0);
    equal(loadConfig({ RETENTION_DAYS: "30" }).retentionDays, 30);
    for (const bad of ["-1", "abc", "1.5", "36501"]) {
      throws(() => loadConfig({ RETENTION_DAYS: bad }), (err) => {
        ok(err instanceof ConfigError, String(err));
        equal(err.variable, "RETENTION_DAYS");
        match(err.message, /current value is/);
        return true;
      });
    }
    equal(retentionCutoff(0), undefined);
    equal(retentionCutoff(2, BASE_TIME), BASE_TIME - 2 * DAY);
  });

  await t.step("one purge deletes what is older than the days, logged and counted", async () => {
    await withStore(async (db) => {
      const now = BASE_TIME + 30 * DAY;
      await insertRows(db, [row(1, now)], now - 31 * DAY);
      await insertRows(db, [row(2, now)], now - 29 * DAY);
      await insertRows(db, [row(3, now)], now);
      const lines: string[] = [];
      const metrics = new Metrics();
      const deps = {
        db,
        days: 30,
        metrics,
        logger: createLogger("info", (line) => lines.push(line)),
        clock: { now: () => now },
      };
      const result = await purgeOnce(deps);
      equal(result?.deleted, 1);
      equal(metrics.get("session_audit_retention_purged_total"), 1);
      match(metrics.render(), /^session_audit_retention_purged_total 1$/m);
      ok(lines.some((l) => JSON.parse(l).msg === "retention purge"), lines.join("\n"));
      deepStrictEqual((await purgeCheckpoints(db)).map((c) => c.createdAt), [now]);
      // 0 = keep forever: nothing is deleted, however old
      const forever = await purgeOnce({ ...deps, days: 0, clock: { now: () => now + 1000 * DAY } });
      equal(forever, undefined);
      equal((await remaining(db)).length, 2);
    });
  });

  await t.step(
    "the runner waits the first delay, then purges once per interval, on its timers, until stopped",
    async () => {
      await withStore(async (db) => {
        await insertRows(db, [row(1, BASE_TIME)], BASE_TIME - 400 * DAY);
        await insertRows(db, [row(2, BASE_TIME)], BASE_TIME);
        const metrics = new Metrics();
        const purged = () => metrics.get("session_audit_retention_purged_total");
        const stop = new AbortController();
        const timers = new FakeTimers(BASE_TIME);
        const running = runRetention({
          db,
          days: 365,
          metrics,
          logger: createLogger("error", () => {}),
          clock: timers,
          timers,
          firstDelayMs: 10,
          intervalMs: 60_000,
        }, stop.signal);
        /** The runner has armed its `n`th wait. */
        const waiting = (n: number) => waitFor(`wait ${n}`, () => timers.armed === n, 10_000, 5);

        await waiting(1);
        timers.advance(9);
        equal(timers.armed, 1, "the first delay has not passed");
        equal(purged(), 0);
        timers.advance(1);
        await waiting(2);
        equal(purged(), 1, "purged once the first delay passed, then waiting again");
        deepStrictEqual(await remaining(db), [row(2, 0).sessionId]);
        timers.advance(59_999);
        equal(timers.armed, 2, "the interval has not passed");
        timers.advance(1);
        await waiting(3);
        stop.abort();
        await running;
        equal(timers.armed, 3, "no wait after the stop");
        equal(purged(), 1);
      });
    },
  );

  await t.step("with RETENTION_DAYS=0 the runner returns at once, never waiting", async () => {
    await withStore(async (db) => {
      const timers = new FakeTimers();
      await runRetention({
        db,
        days: 0,
        metrics: new Metrics(),
        logger: createLogger("error", () => {}),
        timers,
      }, new AbortController().signal);
      equal(timers.armed, 0);
    });
  });
});

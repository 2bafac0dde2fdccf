import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { NO_KEYS } from "../integrity/keyring.ts";
import { verifyTenants } from "../integrity/verify.ts";
import { storeBatch } from "./commit.ts";
import { getSessionEndSql, listSessionEndsSql } from "./queries.ts";
import { INSERT_CHUNK } from "./session_end_sql.ts";
import {
  count,
  deadLetter,
  DEVICE,
  incoming,
  keyOf,
  NOW,
  sessionId,
  sessionRows,
  START,
  TENANT,
  withDb,
} from "../../tests/store_fixture.ts";

// --- session ends ------------------------------------------------------------------------------

Deno.test("a batch inserts its rows and reports the inserted session_ids", async () => {
  await withDb(async (db) => {
    const outcome = await storeBatch(
      db,
      [
        incoming(1, { userId: "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f", reason: "idle_timeout" }),
        incoming(2, { endTime: null, durationSeconds: null, sourceIp: null, reason: null }),
      ],
      [],
      NOW,
    );
    deepStrictEqual([...outcome.inserted].sort(), [sessionId(1), sessionId(2)]);
    const rows = await sessionRows(db);
    equal(rows.length, 2);
    deepStrictEqual({ ...rows[0] }, {
      id: rows[0].id,
      session_id: sessionId(1),
      tenant_id: TENANT,
      device_id: DEVICE,
      user_id: "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f",
      start_time: START,
      end_time: START + 900_000,
      duration_seconds: 900,
      source_ip: "203.0.113.7",
      source_port: null,
      reason: "idle_timeout",
      anomalies: null,
      sort_time: START + 900_000,
      stream_seq: 2,
      recorded_at: NOW,
      chain_version: 2,
      chain_seq: 1,
      chain_hash: rows[0].chain_hash,
      corrects: null,
      corrected_by: null,
      tenant_key: await keyOf(db, TENANT),
      device_key: await keyOf(db, DEVICE),
      user_key: await keyOf(db, "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f"),
    });
    equal(rows[1].user_key, null, "no user, no key");
    equal(rows[1].chain_seq, 2, "the second row of the tenant is its chain's second link");
    equal(rows[1].end_time, null);
    equal(rows[1].reason, null);
    equal(rows[1].source_ip, null);
    equal(rows[1].sort_time, START + 901_000, "without end_time a row sorts by receipt time");
  });
});

Deno.test("an empty batch stores nothing and reports nothing", async () => {
  await withDb(async (db) => {
    equal((await storeBatch(db, [], [], NOW)).inserted.size, 0);
    equal(await count(db, "session_ends"), 0);
  });
});

Deno.test("a later event for a stored session inserts nothing and keeps the stored row (idle pair)", async () => {
  await withDb(async (db) => {
    await storeBatch(db, [incoming(1, { reason: "idle_timeout" })], [], NOW);
    const second = await storeBatch(
      db,
      [incoming(1, { reason: "normal", endTime: START + 960_000, durationSeconds: 960 }, 9)],
      [],
      NOW + 1_000,
    );
    equal(second.inserted.size, 0);
    const rows = await sessionRows(db);
    equal(rows.length, 1);
    equal(rows[0].reason, "idle_timeout");
    equal(rows[0].duration_seconds, 900);
    equal(rows[0].stream_seq, 2);
    equal(rows[0].recorded_at, NOW);
  });
});

Deno.test("an event earlier in the stream than the stored one appends a correction", async () => {
  await withDb(async (db) => {
    // The `normal` (stream sequence 9) was committed first: after a kill -9, or by another worker.
    const normal = incoming(
      1,
      { reason: "normal", endTime: START + 960_000, durationSeconds: 960 },
      9,
    );
    await storeBatch(db, [normal, incoming(2, {}, 10)], [], NOW);
    const idle = incoming(1, { reason: "idle_timeout" }, 8);
    const outcome = await storeBatch(db, [idle], [], NOW + 1_000);
    deepStrictEqual([...outcome.inserted], []);
    deepStrictEqual([...outcome.corrected], [sessionId(1)]);
    deepStrictEqual([...outcome.written], [8]);
    const rows = await sessionRows(db);
    equal(rows.length, 3, "appended: the stored row stays");
    // The stored row is unchanged, but for the mark of what replaced it.
    deepStrictEqual(
      [rows[0].reason, rows[0].duration_seconds, rows[0].stream_seq, rows[0].corrected_by],
      ["normal", 960, 9, 3],
    );
    deepStrictEqual(
      [
        rows[2].reason,
        rows[2].stream_seq,
        rows[2].chain_seq,
        rows[2].corrects,
        rows[2].corrected_by,
      ],
      ["idle_timeout", 8, 3, 1, null],
    );
    // Reads see the effective version: the list (and its reason filter) and the item.
    const current = await db.execute(getSessionEndSql(sessionId(1), TENANT));
    deepStrictEqual(current.rows.map((r) => r.reason), ["idle_timeout"]);
    const byReason = (reason: string) =>
      db.execute(listSessionEndsSql({ tenantId: TENANT, reason }, { limit: 10 }));
    deepStrictEqual((await byReason("normal")).rows.map((r) => r.session_id), [sessionId(2)]);
    deepStrictEqual((await byReason("idle_timeout")).rows.map((r) => r.session_id), [sessionId(1)]);
    // The chain, correction included, verifies.
    const report = await verifyTenants(db, NO_KEYS);
    equal(report.ok, true, JSON.stringify(report.first_broken));
    equal(report.rows_checked, 3);
    // The same late event again, and the `normal` again: duplicates of the correction.
    const again = await storeBatch(db, [idle, normal], [], NOW + 2_000);
    deepStrictEqual([again.inserted.size, again.corrected.size, again.written.size], [0, 0, 0]);
    equal(await count(db, "session_ends"), 3);
  });
});

Deno.test("an event of a session stored for another tenant is quarantined with its reason", async () => {
  await withDb(async (db) => {
    await storeBatch(db, [incoming(1, {}, 9)], [], NOW);
    const other = "1b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3";
    const foreign = incoming(1, { tenantId: other, reason: "idle_timeout" }, 8);
    const outcome = await storeBatch(db, [foreign, incoming(2, {}, 10)], [], NOW);
    deepStrictEqual([...outcome.inserted], [sessionId(2)]);
    deepStrictEqual([...outcome.quarantined.keys()], [8]);
    const letters = await db.execute(
      "SELECT stream_seq, subject, payload, error FROM dead_letters",
    );
    equal(letters.rows.length, 1);
    equal(letters.rows[0].stream_seq, 8);
    equal(letters.rows[0].subject, foreign.subject);
    deepStrictEqual(new Uint8Array(letters.rows[0].payload as ArrayBuffer), foreign.payload);
    equal(
      letters.rows[0].error,
      `session_id ${sessionId(1)} is stored for tenant ${TENANT}; this event names tenant ${other}`,
    );
    equal((await sessionRows(db))[0].reason, "normal", "the stored row is untouched");
  });
});

Deno.test("within one batch the earlier event for a session wins", async () => {
  await withDb(async (db) => {
    const outcome = await storeBatch(
      db,
      [
        incoming(1, { reason: "idle_timeout" }, 10),
        incoming(2, {}, 11),
        incoming(1, { reason: "normal" }, 12),
      ],
      [],
      NOW,
    );
    deepStrictEqual([...outcome.inserted].sort(), [sessionId(1), sessionId(2)]);
    const rows = await sessionRows(db);
    equal(rows.length, 2);
    equal(rows[0].session_id, sessionId(1));
    equal(rows[0].reason, "idle_timeout");
    equal(rows[0].stream_seq, 10);
  });
});

Deno.test(`1,200 rows in one batch (more than one ${INSERT_CHUNK}-row chunk) all land`, async () => {
  await withDb(async (db) => {
    const rows = Array.from({ length: 1_200 }, (_, i) => incoming(i));
    const outcome = await storeBatch(db, rows, [], NOW);
    equal(outcome.inserted.size, 1_200);
    ok(outcome.inserted.has(sessionId(0)) && outcome.inserted.has(sessionId(1_199)));
    equal(await count(db, "session_ends"), 1_200);
    const seqs = await db.execute(
      "SELECT min(stream_seq) AS lo, max(stream_seq) AS hi FROM session_ends",
    );
    deepStrictEqual([seqs.rows[0].lo, seqs.rows[0].hi], [1, 1_200]);
  });
});

Deno.test("a duplicate in a later chunk of the same batch is not reported as inserted", async () => {
  await withDb(async (db) => {
    const rows = Array.from({ length: INSERT_CHUNK + 10 }, (_, i) => incoming(i));
    rows.push(incoming(3, { reason: "late" }, 99_999));
    const outcome = await storeBatch(db, rows, [], NOW);
    equal(outcome.inserted.size, INSERT_CHUNK + 10);
    const row = await db.execute({
      sql: "SELECT reason, stream_seq FROM session_ends WHERE session_id = ?",
      args: [sessionId(3)],
    });
    deepStrictEqual([row.rows[0].reason, row.rows[0].stream_seq], ["normal", 4]);
  });
});

Deno.test("a batch of 1,000 sessions already stored (two full chunks) inserts none and moves no chain", async () => {
  await withDb(async (db) => {
    const rows = Array.from({ length: 1_000 }, (_, i) => incoming(i));
    equal((await storeBatch(db, rows, [], NOW)).inserted.size, 1_000);
    const again = [...rows, incoming(1_000)];
    deepStrictEqual([...(await storeBatch(db, again, [], NOW + 1)).inserted], [sessionId(1_000)]);
    const head = await db.execute("SELECT seq FROM chain_heads");
    equal(Number(head.rows[0].seq), 1_001, "one chain position per stored row, no holes");
    equal(await count(db, "session_ends"), 1_001);
  });
});

// --- dead letters --------------------------------------------------------------------------------

Deno.test("a dead letter is stored verbatim, payload bytes and all", async () => {
  await withDb(async (db) => {
    const payload = new Uint8Array([0x7b, 0x00, 0xff, 0xfe, 0x22, 0xc3, 0x28, 0x0a, 0x7d]);
    await storeBatch(db, [], [deadLetter(17, payload)], NOW);
    const rs = await db.execute("SELECT * FROM dead_letters");
    equal(rs.rows.length, 1);
    const row = rs.rows[0];
    deepStrictEqual(new Uint8Array(row.payload as ArrayBuffer), payload);
    equal(row.stream, "DEVICE_EVENTS");
    equal(row.stream_seq, 17);
    equal(row.subject, "audit.session.end.bad-17");
    equal(row.error, "session_id: must be a UUID");
    equal(row.received_at, NOW - 5_000);
    equal(row.quarantined_at, NOW);
  });
});

Deno.test("a redelivered dead letter (same stream, seq and received_at) is stored once", async () => {
  await withDb(async (db) => {
    const payload = new TextEncoder().encode("not json");
    await storeBatch(db, [], [deadLetter(5, payload), deadLetter(5, payload)], NOW);
    await storeBatch(db, [], [deadLetter(5, payload)], NOW + 30_000);
    equal(await count(db, "dead_letters"), 1);
    const rs = await db.execute("SELECT quarantined_at FROM dead_letters");
    equal(rs.rows[0].quarantined_at, NOW, "the first quarantine is kept");
    // the same sequence received at another time is another message (a recreated stream)
    await storeBatch(db, [], [deadLetter(5, payload, NOW - 1)], NOW);
    equal(await count(db, "dead_letters"), 2);
  });
});

Deno.test("5,000 dead letters in one batch (the largest INGEST_BATCH_SIZE) are all stored", async () => {
  await withDb(async (db) => {
    const letters = Array.from(
      { length: 5_000 },
      (_, i) => deadLetter(i + 1, new TextEncoder().encode(`bad ${i}`)),
    );
    await storeBatch(db, [], letters, NOW);
    equal(await count(db, "dead_letters"), 5_000);
    const last = await db.execute("SELECT payload FROM dead_letters WHERE stream_seq = 5000");
    equal(new TextDecoder().decode(last.rows[0].payload as ArrayBuffer), "bad 4999");
  });
});

Deno.test("session ends and dead letters of one batch are committed together", async () => {
  await withDb(async (db) => {
    const outcome = await storeBatch(
      db,
      [incoming(1), incoming(2)],
      [deadLetter(3, new Uint8Array([1, 2, 3]))],
      NOW,
    );
    equal(outcome.inserted.size, 2);
    equal(await count(db, "session_ends"), 2);
    equal(await count(db, "dead_letters"), 1);
  });
});

// --- failures ------------------------------------------------------------------------------------

Deno.test("a batch whose last statement fails stores none of its rows", async () => {
  await withDb(async (db) => {
    await db.execute(`CREATE TRIGGER refuse_dead_letters BEFORE INSERT ON dead_letters
      BEGIN SELECT RAISE(ABORT, 'simulated failure'); END`);
    await rejects(
      storeBatch(db, [incoming(1), incoming(2)], [deadLetter(3, new Uint8Array([1]))], NOW),
      /simulated failure/,
    );
    equal(await count(db, "session_ends"), 0);
    await db.execute("DROP TRIGGER refuse_dead_letters");
    const retry = await storeBatch(db, [incoming(1), incoming(2)], [], NOW);
    equal(retry.inserted.size, 2, "the retried events are new, not duplicates");
  });
});

Deno.test("a row read as new but not inserted rolls the batch back instead of leaving a hole in the chain", async () => {
  await withDb(async (db) => {
    // A trigger that silently drops one row stands in for any way an INSERT could skip a row.
    await db.execute(`CREATE TRIGGER drop_one BEFORE INSERT ON session_ends
      WHEN NEW.session_id = '${sessionId(2)}' BEGIN SELECT RAISE(IGNORE); END`);
    await rejects(
      storeBatch(db, [incoming(1), incoming(2), incoming(3)], [], NOW),
      /1 of 3 session ends to write were not inserted/,
    );
    equal(await count(db, "session_ends"), 0);
    equal(await count(db, "chain_heads"), 0);
  });
});

Deno.test("a row whose chain position is taken is not inserted, and its batch rolls back", async () => {
  await withDb(async (db) => {
    // Position 2 of the tenant's chain is taken although its head says nothing is stored.
    await db.execute({
      sql: `INSERT INTO session_ends (session_id, tenant_id, device_id, sort_time, stream_seq,
              recorded_at, chain_seq, chain_hash) VALUES (?, ?, ?, ?, 1, ?, 2, 'x')`,
      args: [sessionId(99), TENANT, DEVICE, START, NOW],
    });
    await rejects(
      storeBatch(db, [incoming(1), incoming(2), incoming(3)], [], NOW),
      /1 of 3 session ends to write were not inserted/,
    );
    deepStrictEqual((await sessionRows(db)).map((r) => r.session_id), [sessionId(99)]);
    equal(await count(db, "chain_heads"), 0);
  });
});

import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import type { Row } from "@libsql/client";
import type { SessionEnd } from "../event.ts";
import { BUSY_TIMEOUT_MS, Database } from "./client.ts";
import { migrate, MIGRATIONS } from "./migrations.ts";
import { verifyTenant } from "../integrity/verify.ts";
import { listSessionEndsSql } from "./queries.ts";
import {
  ChainHeadCache,
  chunked,
  commitBatch,
  type DeadLetter,
  type IncomingSessionEnd,
  INSERT_CHUNK,
  prepareBatch,
  prepareBatchInSlices,
  storeBatch,
  TAIL_SIZES,
} from "./session_ends.ts";

const TENANT = "0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3";
const DEVICE = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
const START = Date.UTC(2026, 2, 12, 10, 0, 0);
const NOW = Date.UTC(2026, 2, 12, 11, 0, 0);

/** A distinct, valid session id for `n`. */
function sessionId(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

function incoming(
  n: number,
  changes: Partial<SessionEnd> = {},
  streamSeq = n + 1,
): IncomingSessionEnd {
  return {
    event: {
      sessionId: sessionId(n),
      tenantId: TENANT,
      deviceId: DEVICE,
      userId: null,
      startTime: START,
      endTime: START + 900_000,
      durationSeconds: 900,
      sourceIp: "203.0.113.7",
      reason: "normal",
      ...changes,
    },
    streamSeq,
    receivedAt: START + 901_000,
  };
}

function deadLetter(streamSeq: number, payload: Uint8Array, receivedAt = NOW - 5_000): DeadLetter {
  return {
    stream: "DEVICE_EVENTS",
    streamSeq,
    subject: `audit.session.end.bad-${streamSeq}`,
    payload,
    error: "session_id: must be a UUID",
    receivedAt,
  };
}

/** Runs `fn` against a migrated database in a fresh temp directory, then removes it. */
async function withDb(fn: (db: Database, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-store-" });
  const path = `${dir}/audit.db`;
  const db = await Database.open({ databaseUrl: `file:${path}` });
  try {
    await migrate(db.client);
    await fn(db, path);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function sessionRows(db: Database): Promise<Row[]> {
  return (await db.execute("SELECT * FROM session_ends ORDER BY id")).rows;
}

/** The integer key stored for `id` in `id_keys`. */
async function keyOf(db: Database, id: string): Promise<number> {
  const rs = await db.execute({ sql: "SELECT key FROM id_keys WHERE value = ?", args: [id] });
  equal(rs.rows.length, 1, `one key for ${id}`);
  return Number(rs.rows[0].key);
}

async function count(
  db: Database,
  table: "session_ends" | "dead_letters" | "chain_heads" | "id_keys",
): Promise<number> {
  return Number((await db.execute(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
}

// --- client and migrations ---------------------------------------------------------------------

Deno.test("migrations are idempotent: the second run applies nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-store-" });
  const db = await Database.open({ databaseUrl: `file:${dir}/audit.db` });
  try {
    deepStrictEqual(await migrate(db.client), MIGRATIONS.map((m) => m.version));
    deepStrictEqual(await migrate(db.client), []);
    const versions = await db.execute("SELECT version FROM schema_migrations ORDER BY version");
    deepStrictEqual(versions.rows.map((r) => Number(r.version)), MIGRATIONS.map((m) => m.version));
    const tables = await db.execute(
      "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    );
    deepStrictEqual(
      tables.rows.map((r) => String(r.name)),
      [
        "chain_checkpoints",
        "chain_heads",
        "dead_letters",
        "id_keys",
        "schema_migrations",
        "session_ends",
      ],
    );
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two workers migrating one fresh file at once both succeed, applying each version once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-store-" });
  const url = `file:${dir}/audit.db`;
  const [a, b] = await Promise.all([
    Database.open({ databaseUrl: url }),
    Database.open({ databaseUrl: url }),
  ]);
  try {
    const [appliedByA, appliedByB] = await Promise.all([migrate(a.client), migrate(b.client)]);
    deepStrictEqual(
      [...appliedByA, ...appliedByB].sort((x, y) => x - y),
      MIGRATIONS.map((m) => m.version),
      "each version is applied by exactly one of the two",
    );
    const versions = await a.execute("SELECT version FROM schema_migrations");
    equal(versions.rows.length, MIGRATIONS.length);
    deepStrictEqual(await migrate(b.client), []);
  } finally {
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("opening a file: URL creates its missing parent directories", async () => {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-store-" });
  const path = `${dir}/not/yet/there/audit.db`;
  const db = await Database.open({ databaseUrl: `file:${path}` });
  try {
    ok(db.isLocalFile);
    await migrate(db.client);
    ok((await Deno.stat(`${dir}/not/yet/there`)).isDirectory);
    ok((await Deno.stat(path)).isFile);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a local file is in WAL mode with synchronous FULL on every pooled connection", async () => {
  await withDb(async (db, path) => {
    equal((await db.client.execute("PRAGMA journal_mode")).rows[0][0], "wal");
    // Concurrent statements borrow several connections from the client's pool.
    const levels = await Promise.all(
      Array.from({ length: 5 }, () => db.client.execute("PRAGMA synchronous")),
    );
    deepStrictEqual(levels.map((rs) => Number(rs.rows[0][0])), [2, 2, 2, 2, 2]);
    await storeBatch(db, [incoming(1)], [], NOW);
    ok((await Deno.stat(`${path}-wal`)).isFile, "no -wal file beside the database");
  });
});

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
      reason: "idle_timeout",
      sort_time: START + 900_000,
      stream_seq: 2,
      recorded_at: NOW,
      chain_seq: 1,
      chain_hash: rows[0].chain_hash,
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

Deno.test("a later event for a stored session inserts nothing and keeps the first row (idle pair)", async () => {
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

Deno.test("statements come in a fixed set of sizes, the last padded by repeating its first item", () => {
  deepStrictEqual(chunked([]), []);
  deepStrictEqual(chunked(["a"]), [["a"]]);
  deepStrictEqual(chunked(["a", "b"]), [["a", "b", "a", "a"]]);
  const sizes = new Set<number>();
  for (let n = 1; n < 3 * INSERT_CHUNK; n += 7) {
    const items = Array.from({ length: n }, (_, i) => i);
    const chunks = chunked(items);
    for (const chunk of chunks) sizes.add(chunk.length);
    deepStrictEqual([...new Set(chunks.flat())], items, `n=${n}: every item once, in order`);
    ok(chunks.slice(0, -1).every((c) => c.length === INSERT_CHUNK), `n=${n}: full chunks first`);
  }
  deepStrictEqual([...sizes].sort((a, b) => a - b), [...TAIL_SIZES, INSERT_CHUNK]);
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
      /1 of 3 session ends read as new were not inserted/,
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
      /1 of 3 session ends read as new were not inserted/,
    );
    deepStrictEqual((await sessionRows(db)).map((r) => r.session_id), [sessionId(99)]);
    equal(await count(db, "chain_heads"), 0);
  });
});

Deno.test("a batch blocked past the busy timeout rejects, stores nothing, and the database recovers", async () => {
  await withDb(async (db, path) => {
    const holder = await Database.open({ databaseUrl: `file:${path}` });
    try {
      const lock = await holder.client.transaction("write"); // BEGIN IMMEDIATE on another connection
      const started = performance.now();
      try {
        await rejects(
          storeBatch(db, [incoming(1)], [deadLetter(2, new Uint8Array([9]))], NOW),
          (err: Error & { code?: string }) => {
            match(`${err.code} ${err.message}`, /BUSY|locked/i);
            return true;
          },
        );
      } finally {
        await lock.rollback();
      }
      const waited = performance.now() - started;
      ok(
        waited >= BUSY_TIMEOUT_MS - 500,
        `gave up after ${Math.round(waited)} ms, not the busy timeout`,
      );
      equal(await count(db, "session_ends"), 0);
      equal(await count(db, "dead_letters"), 0);

      const later = await storeBatch(db, [incoming(1)], [deadLetter(2, new Uint8Array([9]))], NOW);
      deepStrictEqual([...later.inserted], [sessionId(1)]);
      equal(await count(db, "dead_letters"), 1);
      equal(Number((await db.client.execute("PRAGMA synchronous")).rows[0][0]), 2);
    } finally {
      holder.close();
    }
  });
});

// --- chains computed ahead of the transaction --------------------------------------------------

/** The tenant's chain verifies, and its head is the last of `rows` chained rows. */
async function assertChainIntact(db: Database, rows: number): Promise<void> {
  const verdict = await verifyTenant(db, TENANT);
  ok(verdict.ok, `chain broken: ${JSON.stringify(verdict.first_broken)}`);
  equal(verdict.rows_checked, rows);
  const head = (await db.execute("SELECT seq, hash FROM chain_heads")).rows[0];
  equal(Number(head.seq), rows, "the head is the last row");
  equal(head.hash, verdict.head);
}

/** Runs `fn` on a database where the tenant's first row was committed through `cache`. */
function withFirstRowCommitted(
  fn: (db: Database, cache: ChainHeadCache) => Promise<void>,
): Promise<void> {
  return withDb(async (db) => {
    const cache = new ChainHeadCache();
    await commitBatch(db, prepareBatch([incoming(1)], [], cache, NOW), cache);
    await fn(db, cache);
  });
}

Deno.test("a batch prepared while the previous one commits extends the chain it left", async () => {
  await withDb(async (db) => {
    const cache = new ChainHeadCache();
    const first = prepareBatch([incoming(1), incoming(2)], [], cache, NOW);
    const second = prepareBatch([incoming(3), incoming(4)], [], cache, NOW + 1);
    deepStrictEqual(second.ahead?.assumed.get(TENANT), first.ahead?.heads.get(TENANT));
    await commitBatch(db, first, cache);
    const generation = cache.generation;
    const outcome = await commitBatch(db, second, cache);
    deepStrictEqual([...outcome.inserted], [sessionId(3), sessionId(4)]);
    equal(cache.generation, generation, "both committed as prepared");
    deepStrictEqual((await sessionRows(db)).map((r) => r.chain_seq), [1, 2, 3, 4]);
    await assertChainIntact(db, 4);
  });
});

Deno.test("a chain prepared from a head another worker has moved is computed again", async () => {
  await withFirstRowCommitted(async (db, cache) => {
    const prepared = prepareBatch([incoming(3)], [], cache, NOW);
    equal(prepared.ahead?.assumed.get(TENANT)?.seq, 1);
    await storeBatch(db, [incoming(2)], [], NOW); // another worker, same database
    const generation = cache.generation;
    deepStrictEqual([...(await commitBatch(db, prepared, cache)).inserted], [sessionId(3)]);
    deepStrictEqual(
      (await sessionRows(db)).map((r) => [r.session_id, r.chain_seq]),
      [[sessionId(1), 1], [sessionId(2), 2], [sessionId(3), 3]],
    );
    await assertChainIntact(db, 3);
    equal(cache.generation, generation + 1, "batches prepared after it are stale");
    equal(cache.expected(TENANT).seq, 3, "the cache learnt the head written");
  });
});

Deno.test("a prepared batch with a session already stored skips it and keeps the chain whole", async () => {
  await withFirstRowCommitted(async (db, cache) => {
    const outcome = await commitBatch(
      db,
      prepareBatch([incoming(2), incoming(1, { reason: "idle_timeout" }), incoming(3)], [], cache),
      cache,
    );
    deepStrictEqual([...outcome.inserted], [sessionId(2), sessionId(3)]);
    equal((await sessionRows(db))[0].reason, "normal", "the stored row is left alone");
    await assertChainIntact(db, 3);
  });
});

Deno.test("after a failed batch, a batch prepared on its heads is computed again from the database", async () => {
  await withFirstRowCommitted(async (db, cache) => {
    const failing = prepareBatch([incoming(2)], [], cache, NOW);
    const next = prepareBatch([incoming(3)], [], cache, NOW);
    await db.execute(`CREATE TRIGGER fail BEFORE INSERT ON session_ends
      WHEN NEW.session_id = '${sessionId(2)}' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
    await rejects(commitBatch(db, failing, cache), /disk on fire/);
    equal(cache.expected(TENANT).seq, 1, "the failed batch's heads are forgotten");
    deepStrictEqual([...(await commitBatch(db, next, cache)).inserted], [sessionId(3)]);
    await assertChainIntact(db, 2);
  });
});

Deno.test("a batch prepared in slices is the batch prepared at once", async () => {
  const rows = [1, 2, 3, 2, 4, 5, 6, 7].map((n) => incoming(n));
  const atOnce = prepareBatch(rows, [], new ChainHeadCache(), NOW);
  let pauses = 0;
  const pause = () => {
    pauses++;
    return Promise.resolve();
  };
  const sliced = await prepareBatchInSlices(rows, [], new ChainHeadCache(), pause, 3, NOW);
  equal(pauses, 2, "a pause after every 3 rows");
  deepStrictEqual(sliced.ahead?.fresh, atOnce.ahead?.fresh);
  deepStrictEqual(sliced.ahead?.heads, atOnce.ahead?.heads);
  equal(sliced.ahead?.fresh.length, 7, "the repeated session across slices is kept once");
});

Deno.test("a batch whose preparation a failed commit interrupts is stale and leaves no heads", async () => {
  await withFirstRowCommitted(async (db, cache) => {
    const failing = prepareBatch([incoming(2)], [], cache, NOW);
    await db.execute(`CREATE TRIGGER fail BEFORE INSERT ON session_ends
      WHEN NEW.session_id = '${sessionId(2)}' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
    let failed = false;
    const pause = async () => {
      if (failed) return;
      failed = true;
      await rejects(commitBatch(db, failing, cache), /disk on fire/);
    };
    const interrupted = await prepareBatchInSlices(
      [incoming(3), incoming(4)],
      [],
      cache,
      pause,
      1,
      NOW,
    );
    ok(interrupted.ahead && interrupted.ahead.generation !== cache.generation, "stale");
    equal(cache.expected(TENANT).seq, 1, "its heads were not recorded as expected");
    await db.execute("DROP TRIGGER fail");
    const again = prepareBatch([incoming(3), incoming(4)], [], cache, NOW);
    deepStrictEqual([...(await commitBatch(db, again, cache)).inserted], [
      sessionId(3),
      sessionId(4),
    ]);
    await assertChainIntact(db, 3);
  });
});

// --- integer keys of ids -----------------------------------------------------------------------

const DEVICE_2 = "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9";
const DEVICE_3 = "7c6b5a49-3827-4165-9f4e-3d2c1b0a9f8e";

/** The session_ids a tenant's list narrowed to `deviceId` returns. */
async function listedForDevice(db: Database, deviceId: string): Promise<string[]> {
  const rs = await db.execute(
    listSessionEndsSql({ tenantId: TENANT, deviceId }, { limit: 50 }),
  );
  return rs.rows.map((r) => String(r.session_id)).sort();
}

Deno.test("each id gets one integer key, which later batches reuse", async () => {
  await withDb(async (db) => {
    await storeBatch(db, [incoming(1)], [], NOW);
    equal(await count(db, "id_keys"), 2, "the tenant and the device");
    await storeBatch(db, [incoming(2), incoming(3, { deviceId: DEVICE_2 })], [], NOW);
    equal(await count(db, "id_keys"), 3, "only the new device was added");
    const rows = await sessionRows(db);
    deepStrictEqual(
      rows.map((r) => [r.tenant_key, r.device_key]),
      [
        [await keyOf(db, TENANT), await keyOf(db, DEVICE)],
        [await keyOf(db, TENANT), await keyOf(db, DEVICE)],
        [await keyOf(db, TENANT), await keyOf(db, DEVICE_2)],
      ],
    );
    deepStrictEqual(await listedForDevice(db, DEVICE), [sessionId(1), sessionId(2)]);
    deepStrictEqual(await listedForDevice(db, DEVICE_2), [sessionId(3)]);
  });
});

Deno.test("a rolled-back batch's new keys are not remembered, so no two devices share a key", async () => {
  await withDb(async (db) => {
    await storeBatch(db, [incoming(1)], [], NOW);
    await db.execute(`CREATE TRIGGER fail BEFORE INSERT ON session_ends
      WHEN NEW.session_id = '${sessionId(2)}' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
    await rejects(storeBatch(db, [incoming(2, { deviceId: DEVICE_2 })], [], NOW), /disk on fire/);
    await db.execute("DROP TRIGGER fail");
    // The key DEVICE_2 had in the rolled-back transaction is free again: DEVICE_3 takes it.
    await storeBatch(db, [incoming(3, { deviceId: DEVICE_3 })], [], NOW);
    await storeBatch(db, [incoming(2, { deviceId: DEVICE_2 })], [], NOW);
    const keys = new Set([DEVICE, DEVICE_2, DEVICE_3].map((d) => keyOf(db, d)));
    equal(new Set(await Promise.all(keys)).size, 3);
    deepStrictEqual(await listedForDevice(db, DEVICE_2), [sessionId(2)]);
    deepStrictEqual(await listedForDevice(db, DEVICE_3), [sessionId(3)]);
  });
});

Deno.test("a row written without keys (by an older worker) gets them on insert", async () => {
  await withDb(async (db) => {
    await db.execute({
      sql: `INSERT INTO session_ends (session_id, tenant_id, device_id, user_id, sort_time,
              stream_seq, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      args: [sessionId(1), TENANT, DEVICE_2, DEVICE_3, START, 1, NOW],
    });
    const [row] = await sessionRows(db);
    deepStrictEqual([row.tenant_key, row.device_key, row.user_key], [
      await keyOf(db, TENANT),
      await keyOf(db, DEVICE_2),
      await keyOf(db, DEVICE_3),
    ]);
    deepStrictEqual(await listedForDevice(db, DEVICE_2), [sessionId(1)]);
  });
});

Deno.test("migrating to version 4 gives the rows already stored their keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-store-" });
  const db = await Database.open({ databaseUrl: `file:${dir}/audit.db` });
  try {
    await migrate(db.client, MIGRATIONS.filter((m) => m.version < 4));
    for (const [n, device, user] of [[1, DEVICE, null], [2, DEVICE_2, DEVICE_3]] as const) {
      await db.execute({
        sql: `INSERT INTO session_ends (session_id, tenant_id, device_id, user_id, sort_time,
                stream_seq, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        args: [sessionId(n), TENANT, device, user, START + n, n, NOW],
      });
    }
    deepStrictEqual(await migrate(db.client), [4]);
    const rows = await sessionRows(db);
    deepStrictEqual(rows.map((r) => [r.tenant_key, r.device_key, r.user_key]), [
      [await keyOf(db, TENANT), await keyOf(db, DEVICE), null],
      [await keyOf(db, TENANT), await keyOf(db, DEVICE_2), await keyOf(db, DEVICE_3)],
    ]);
    deepStrictEqual(await listedForDevice(db, DEVICE_2), [sessionId(2)]);
    // and the chain goes on from there
    await storeBatch(db, [incoming(3)], [], NOW);
    deepStrictEqual(await listedForDevice(db, DEVICE), [sessionId(1), sessionId(3)]);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

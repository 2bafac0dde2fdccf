import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import { storeBatch } from "./commit.ts";
import { BUSY_TIMEOUT_MS, Database } from "./client.ts";
import { migrate } from "./migrations.ts";
import { count, deadLetter, incoming, NOW, sessionId, withDb } from "../../tests/store_fixture.ts";

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

/** The busy timeout of the write connection, read inside a write transaction. */
async function writerBusyTimeout(db: Database): Promise<number> {
  const rs = await db.writeTransaction((tx) => tx.execute("PRAGMA busy_timeout"));
  return Number(Object.values(rs.rows[0])[0]);
}

Deno.test("every connection waits up to the busy timeout for another process's write lock", async () => {
  await withDb(async (db) => {
    equal(await writerBusyTimeout(db), BUSY_TIMEOUT_MS, "the write connection");
    const pooled = await Promise.all(
      Array.from({ length: 3 }, () => db.client.execute("PRAGMA busy_timeout")),
    );
    deepStrictEqual(
      pooled.map((rs) => Number(rs.rows[0][0])),
      [BUSY_TIMEOUT_MS, BUSY_TIMEOUT_MS, BUSY_TIMEOUT_MS],
      "the pooled connections",
    );
  });
});

Deno.test("a batch blocked past the busy timeout rejects, stores nothing, and the database recovers", async () => {
  await withDb(async (db, path) => {
    const holder = await Database.open({ databaseUrl: `file:${path}` });
    try {
      const lock = await holder.client.transaction("write"); // BEGIN IMMEDIATE on another connection
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
      equal(await count(db, "session_ends"), 0);
      equal(await count(db, "dead_letters"), 0);

      const later = await storeBatch(db, [incoming(1)], [deadLetter(2, new Uint8Array([9]))], NOW);
      deepStrictEqual([...later.inserted], [sessionId(1)]);
      equal(await count(db, "dead_letters"), 1);
      equal(Number((await db.client.execute("PRAGMA synchronous")).rows[0][0]), 2);
      equal(
        await writerBusyTimeout(db),
        BUSY_TIMEOUT_MS,
        "the replaced write connection waits too",
      );
    } finally {
      holder.close();
    }
  });
});

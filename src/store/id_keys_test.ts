import { deepStrictEqual, equal, rejects } from "node:assert/strict";
import type { InStatement, InValue } from "@libsql/client";
import { storeBatch } from "./commit.ts";
import { Database } from "./client.ts";
import { type Execute, IdKeyCache, resolveRowKeys } from "./id_keys.ts";
import { migrate, MIGRATIONS } from "./migrations.ts";
import {
  count,
  DEVICE,
  DEVICE_2,
  DEVICE_3,
  incoming,
  keyOf,
  listedForDevice,
  NOW,
  sessionId,
  START,
  TENANT,
  withDb,
} from "../../tests/store_fixture.ts";

const USER = "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f";

// Integer keys of the ids (src/store/id_keys.ts): given on insert by the writer, by the
// migration's trigger for a row written without them, and by migration 4 to the rows before it.

/** The tenant, device and user keys of every stored session end, in insertion order. */
async function storedKeys(db: Database): Promise<InValue[][]> {
  const rs = await db.execute(
    "SELECT tenant_key, device_key, user_key FROM session_ends ORDER BY id",
  );
  return rs.rows.map((r) => [r.tenant_key, r.device_key, r.user_key]);
}

Deno.test("each id gets one integer key, which later batches reuse", async () => {
  await withDb(async (db) => {
    await storeBatch(db, [incoming(1)], [], NOW);
    equal(await count(db, "id_keys"), 2, "the tenant and the device");
    await storeBatch(db, [incoming(2), incoming(3, { deviceId: DEVICE_2 })], [], NOW);
    equal(await count(db, "id_keys"), 3, "only the new device was added");
    deepStrictEqual(await storedKeys(db), [
      [await keyOf(db, TENANT), await keyOf(db, DEVICE), null],
      [await keyOf(db, TENANT), await keyOf(db, DEVICE), null],
      [await keyOf(db, TENANT), await keyOf(db, DEVICE_2), null],
    ]);
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
    deepStrictEqual(await storedKeys(db), [
      [await keyOf(db, TENANT), await keyOf(db, DEVICE_2), await keyOf(db, DEVICE_3)],
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
    deepStrictEqual(await migrate(db.client), [4, 5, 6]);
    deepStrictEqual(await storedKeys(db), [
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

/** `stmt` as SQL text and positional arguments. */
function parts(stmt: InStatement): { sql: string; args: InValue[] } {
  if (typeof stmt === "string") return { sql: stmt, args: [] };
  if (!Array.isArray(stmt.args)) throw new Error("positional arguments expected");
  return { sql: stmt.sql, args: stmt.args };
}

/** An {@linkcode Execute} over an empty `id_keys` that numbers ids in the order it is asked. */
function fakeKeyTable(): { execute: Execute; asked: string[][] } {
  const asked: string[][] = [];
  const execute: Execute = (stmt) => {
    const { sql, args } = parts(stmt);
    const values = JSON.parse(String(args[0])) as string[];
    if (sql.startsWith("INSERT")) {
      asked.push(values);
      return Promise.resolve({ rows: [] });
    }
    return Promise.resolve({ rows: values.map((value, i) => ({ value, key: 10 + i })) });
  };
  return { execute, asked };
}

Deno.test("keys are resolved for the tenant, device and user of each row, once, cached ones not asked", async () => {
  const { execute, asked } = fakeKeyTable();
  const rows = [incoming(1, { userId: USER }), incoming(2), incoming(3, { userId: USER })];
  const keys = await resolveRowKeys(execute, rows);
  deepStrictEqual(asked, [[TENANT, DEVICE, USER]], "no null user, no id twice");
  deepStrictEqual(keys, new Map([[TENANT, 10], [DEVICE, 11], [USER, 12]]));

  const cache = new IdKeyCache();
  cache.learn(new Map([[TENANT, 1], [DEVICE, 2]]));
  const again = fakeKeyTable();
  const cached = await resolveRowKeys(again.execute, rows, cache);
  deepStrictEqual(again.asked, [[USER]]);
  deepStrictEqual(cached, new Map([[TENANT, 1], [DEVICE, 2], [USER, 10]]));
});

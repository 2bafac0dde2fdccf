import { deepStrictEqual, equal } from "node:assert/strict";
import { canonicalRowV1 } from "../integrity/canonical.ts";
import { chainHash, GENESIS_HASH } from "../integrity/chain.ts";
import { NO_KEYS } from "../integrity/keyring.ts";
import { verifyTenants } from "../integrity/verify.ts";
import { Database } from "./client.ts";
import { storeBatch } from "./commit.ts";
import { migrate, MIGRATIONS } from "./migrations.ts";
import { incoming, NOW, sessionId, START, TENANT } from "../../tests/store_fixture.ts";

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

Deno.test("version 5 keeps every row and id; rows chained before it still verify, and the chain goes on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-store-" });
  const db = await Database.open({ databaseUrl: `file:${dir}/audit.db` });
  try {
    await migrate(db.client, MIGRATIONS.filter((m) => m.version < 5));
    // Three rows as the service wrote them before version 5: chained with encoding 1.
    let previous = GENESIS_HASH;
    for (const n of [1, 2, 3]) {
      const { event } = incoming(n);
      const chainSeq = n;
      previous = chainHash(previous, canonicalRowV1({ ...event, chainSeq, recordedAt: NOW }));
      await db.execute({
        sql: `INSERT INTO session_ends (id, session_id, tenant_id, device_id, user_id, start_time,
                end_time, duration_seconds, source_ip, reason, sort_time, stream_seq, recorded_at,
                chain_seq, chain_hash) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        args: [
          n * 10,
          event.sessionId,
          TENANT,
          event.deviceId,
          START,
          event.endTime,
          event.durationSeconds,
          event.sourceIp,
          event.reason,
          START,
          n,
          NOW,
          chainSeq,
          previous,
        ],
      });
    }
    await db.execute({
      sql: "INSERT INTO chain_heads (tenant_id, seq, hash) VALUES (?, 3, ?)",
      args: [TENANT, previous],
    });
    deepStrictEqual(await migrate(db.client), [5, 6]);
    const rows = await db.execute("SELECT id, chain_version, corrected_by FROM session_ends");
    deepStrictEqual(rows.rows.map((r) => [r.id, r.chain_version, r.corrected_by]), [
      [10, 1, null],
      [20, 1, null],
      [30, 1, null],
    ]);
    equal((await verifyTenants(db, NO_KEYS)).ok, true, "the version 1 rows verify");
    // New rows are chained with version 2 after them; an earlier event corrects an old row.
    await storeBatch(db, [incoming(4), incoming(2, { reason: "idle_timeout" }, 0)], [], NOW);
    const report = await verifyTenants(db, NO_KEYS);
    equal(report.ok, true, JSON.stringify(report.first_broken));
    equal(report.rows_checked, 5);
    const versions = await db.execute(
      "SELECT session_id, chain_version, corrects, corrected_by FROM session_ends ORDER BY chain_seq",
    );
    deepStrictEqual(
      versions.rows.map((r) => [r.session_id, r.chain_version, r.corrects, r.corrected_by]),
      [
        [sessionId(1), 1, null, null],
        [sessionId(2), 1, null, 5],
        [sessionId(3), 1, null, null],
        [sessionId(4), 2, null, null],
        [sessionId(2), 2, 2, null],
      ],
    );
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * A database of schema 5 with checkpoints migrates to schema 6: its
 * checkpoints (version 1: no number, no predecessor, no key id) become the
 * start of each tenant's checkpoint chain, in the order they were written,
 * still verify, and the first checkpoint written after seals them all.
 */
import { deepStrictEqual, equal, match } from "node:assert/strict";
import { checkpointText } from "../src/integrity/checkpoint_record.ts";
import { readCheckpoints, writePeriodicCheckpoints } from "../src/integrity/checkpoints.ts";
import { keyringOf } from "../src/integrity/keyring.ts";
import { hmacSigner } from "../src/integrity/signing.ts";
import { verifyTenants } from "../src/integrity/verify.ts";
import { Database } from "../src/store/client.ts";
import { storeBatch } from "../src/store/commit.ts";
import { migrate, MIGRATIONS } from "../src/store/migrations.ts";
import { Attacker } from "./integrity_attacker.ts";
import { incoming, NOW, TENANT } from "./store_fixture.ts";

const SECRET = "the-signing-secret-of-schema-5-0123456789";

/**
 * Schema 5 as the service left it: six rows of one tenant; checkpoints as
 * it wrote them (version 1, signed with HMAC): periodic at 2, periodic at 4,
 * then a purge of positions 1-2.
 */
async function schema5(path: string): Promise<Database> {
  const db = await Database.open({ databaseUrl: `file:${path}` });
  await migrate(db.client, MIGRATIONS.filter((m) => m.version <= 5));
  const signer = await hmacSigner(SECRET);
  for (let n = 1; n <= 6; n++) await storeBatch(db, [incoming(n)], [], NOW + n);
  const hashAt = async (seq: number) =>
    String(
      (await db.execute({
        sql: "SELECT chain_hash FROM session_ends WHERE chain_seq = ?",
        args: [seq],
      })).rows[0].chain_hash,
    );
  const v1 = async (kind: string, seq: number, createdAt: number) => {
    const hash = await hashAt(seq);
    const text = checkpointText({
      version: 1,
      tenantId: TENANT,
      ordinal: 0,
      kind,
      seq,
      hash,
      createdAt,
      algorithm: "hmac-sha256",
      keyId: null,
      prevDigest: null,
      signature: "",
    });
    await db.execute({
      sql:
        `INSERT INTO chain_checkpoints (tenant_id, kind, seq, hash, created_at, algorithm, signature)
            VALUES (?, ?, ?, ?, ?, 'hmac-sha256', ?)`,
      args: [TENANT, kind, seq, hash, createdAt, await signer.sign!(text)],
    });
  };
  await v1("periodic", 2, NOW + 10);
  await v1("periodic", 4, NOW + 20);
  await v1("purge", 2, NOW + 30);
  await db.execute({ sql: "DELETE FROM session_ends WHERE chain_seq <= 2", args: [] });
  return db;
}

Deno.test("a schema 5 database with checkpoints migrates: they start the checkpoint chain, still verify, and the next checkpoint seals them", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-migrate6-" });
  const keyring = keyringOf(await hmacSigner(SECRET));
  const db = await schema5(`${dir}/audit.db`);
  try {
    deepStrictEqual(await migrate(db.client), [6]);
    const migrated = await readCheckpoints(db, TENANT);
    deepStrictEqual(
      migrated.map((c) => [c.ordinal, c.version, c.kind, c.seq, c.keyId, c.prevDigest]),
      [
        [1, 1, "periodic", 2, null, null],
        [2, 1, "periodic", 4, null, null],
        [3, 1, "purge", 2, null, null],
      ],
      "numbered in the order they were written",
    );

    await t.step("they verify, the purge checkpoint the anchor", async () => {
      const report = await verifyTenants(db, keyring);
      equal(report.ok, true, JSON.stringify(report.first_broken));
      equal(report.rows_checked, 4);
      equal(report.tenants[0].checkpoints_verified, 2);
    });

    await t.step("the first checkpoint written after is of version 2 and seals them", async () => {
      await storeBatch(db, [incoming(7)], [], NOW + 7);
      const [written] = await writePeriodicCheckpoints(db, keyring, NOW + 40);
      deepStrictEqual(
        [written.ordinal, written.version, written.seq, written.keyId],
        [4, 2, 7, keyring.signer?.keyId],
      );
      const report = await verifyTenants(db, keyring);
      equal(report.ok, true, JSON.stringify(report.first_broken));
      equal(report.tenants[0].checkpoint_seq, 7);
    });

    await t.step("a version 1 checkpoint deleted shows, even renumbered", async () => {
      const copy = `${dir}/tampered.db`;
      await db.execute({ sql: "VACUUM INTO ?", args: [copy] });
      const tampered = await Database.open({ databaseUrl: `file:${copy}` });
      try {
        await Attacker.with(copy, (a) => a.sql("DELETE FROM chain_checkpoints WHERE ordinal = 2"));
        const gap = await verifyTenants(tampered, keyring);
        equal(gap.first_broken?.problem, "missing");
        await Attacker.with(
          copy,
          (a) => a.sql("UPDATE chain_checkpoints SET ordinal = ordinal - 1 WHERE ordinal > 2"),
        );
        const closed = await verifyTenants(tampered, keyring);
        equal(closed.first_broken?.problem, "altered");
        match(closed.first_broken?.detail ?? "", /does not name checkpoint 2/);
      } finally {
        tampered.close();
      }
    });
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

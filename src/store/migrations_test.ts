import { deepStrictEqual, equal } from "node:assert/strict";
import { Database } from "./client.ts";
import { migrate, MIGRATIONS } from "./migrations.ts";

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

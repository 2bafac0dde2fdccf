/**
 * The store side of the benchmark: a fresh database with the project's
 * schema, the store ceiling (500-row batches through `storeBatch`, no NATS),
 * and bulk filling for the read benchmark.
 *
 * @module
 */
import { createClient, type InStatement } from "@libsql/client";
import { Database } from "../src/store/client.ts";
import { migrate } from "../src/store/migrations.ts";
import { storeBatch } from "../src/store/commit.ts";
import { type IncomingSessionEnd, insertSessionEndsSql } from "../src/store/session_end_sql.ts";
import { resolveRowKeys } from "../src/store/id_keys.ts";
import { type Rate, rate } from "./consumers.ts";

/** Opens (creating) a database file with the service's settings and schema. */
export async function openMigrated(path: string): Promise<Database> {
  const db = await Database.open({ databaseUrl: `file:${path}` });
  await migrate(db.client);
  return db;
}

/**
 * Store ceiling: `rows` stored in batches of `batchSize` with the service's
 * own `storeBatch` (multi-row INSERT … ON CONFLICT DO NOTHING, one
 * durable commit per batch) into a freshly migrated database.
 */
export async function storeCeiling(
  path: string,
  rows: IncomingSessionEnd[],
  batchSize: number,
): Promise<Rate> {
  const db = await openMigrated(path);
  try {
    const started = performance.now();
    for (let i = 0; i < rows.length; i += batchSize) {
      await storeBatch(db, rows.slice(i, i + batchSize), []);
    }
    return rate(rows.length, performance.now() - started);
  } finally {
    db.close();
  }
}

/**
 * Fills an already migrated database with `rows` through the project's
 * INSERT builder, quickly: this is set-up, not a measurement, so it commits
 * 20,000 rows at a time with `synchronous = OFF` on its own connection.
 */
export async function fillRows(path: string, rows: IncomingSessionEnd[]): Promise<void> {
  const client = createClient({ url: `file:${path}` });
  try {
    await client.execute("PRAGMA synchronous = OFF");
    const perCommit = 20_000;
    const execute = (stmt: InStatement) => client.execute(stmt);
    for (let i = 0; i < rows.length; i += perCommit) {
      const chunk = rows.slice(i, i + perCommit);
      const keys = await resolveRowKeys(execute, chunk);
      await client.batch(insertSessionEndsSql(chunk, Date.now(), keys), "write");
    }
    await client.execute("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    client.close();
  }
}

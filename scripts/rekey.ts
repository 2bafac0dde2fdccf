/**
 * `deno task rekey`: copies a local database into a new file encrypted with
 * another key (or encrypts a plain file, or decrypts one), verifies that
 * every table holds the same rows, and optionally swaps the files.
 *
 * Stop the service first: the copy is a snapshot.
 *
 * @module
 */
import { createClient } from "@libsql/client";
import type { Client, InValue, Row } from "@libsql/client";
import { createHash } from "node:crypto";
import { localPath } from "../src/store/client.ts";
import { migrate } from "../src/store/migrations.ts";

const USAGE = `usage: deno task rekey [--replace] <database file>
  Reads the file with DATABASE_ENCRYPTION_KEY (unset: a plain file) and writes
  <file>.rekeyed encrypted with NEW_DATABASE_ENCRYPTION_KEY (unset: plain).
  --replace  then keeps the old file as <file>.bak and moves the new one in place.`;

/** Rows copied per statement. */
const CHUNK = 500;

async function tables(db: Client): Promise<string[]> {
  const rs = await db.execute(
    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
  );
  return rs.rows.map((r) => String(r.name));
}

/** A table's rows in rowid order, {@linkcode CHUNK} per query, with their column names. */
async function* rowChunks(
  db: Client,
  table: string,
): AsyncGenerator<{ columns: string[]; rows: Row[] }> {
  let last = 0;
  for (;;) {
    const rs = await db.execute({
      sql: `SELECT rowid AS __rowid, * FROM "${table}" WHERE rowid > ? ORDER BY rowid LIMIT ?`,
      args: [last, CHUNK],
    });
    if (rs.rows.length === 0) return;
    yield { columns: rs.columns.filter((c) => c !== "__rowid"), rows: rs.rows };
    last = Number(rs.rows[rs.rows.length - 1].__rowid);
  }
}

/** The row count and a SHA-256 over every row's values, in rowid order, read chunk by chunk. */
async function fingerprint(db: Client, table: string): Promise<{ rows: number; digest: string }> {
  const hash = createHash("sha256");
  let rows = 0;
  for await (const chunk of rowChunks(db, table)) {
    for (const r of chunk.rows) {
      const values = chunk.columns.map((c) => {
        const value = r[c];
        return value instanceof ArrayBuffer ? Array.from(new Uint8Array(value)) : String(value);
      });
      hash.update(JSON.stringify(values)).update("\n");
      rows++;
    }
  }
  return { rows, digest: hash.digest("hex") };
}

/** Copies every table of `from` into `to` (whose schema must exist). */
export async function copyTables(from: Client, to: Client): Promise<void> {
  for (const table of await tables(from)) {
    for await (const { columns, rows } of rowChunks(from, table)) {
      const row = `(${columns.map(() => "?").join(", ")})`;
      const args: InValue[] = [];
      for (const r of rows) for (const c of columns) args.push(r[c] as InValue);
      await to.execute({
        sql: `INSERT OR REPLACE INTO "${table}" (${
          columns.map((c) => `"${c}"`).join(", ")
        }) VALUES ${rows.map(() => row).join(", ")}`,
        args,
      });
    }
  }
}

async function main(args: string[]): Promise<number> {
  const replace = args.includes("--replace");
  const files = args.filter((a) => !a.startsWith("--"));
  if (files.length !== 1 || args.includes("--help")) {
    console.error(USAGE);
    return args.includes("--help") ? 0 : 2;
  }
  const path = localPath(files[0].startsWith("file:") ? files[0] : `file:${files[0]}`) ?? files[0];
  const target = `${path}.rekeyed`;
  try {
    await Deno.stat(path);
  } catch {
    console.error(`rekey: ${path} does not exist`);
    return 2;
  }
  await Deno.remove(target).catch(() => {});
  const from = createClient({
    url: `file:${path}`,
    encryptionKey: Deno.env.get("DATABASE_ENCRYPTION_KEY") || undefined,
  });
  const to = createClient({
    url: `file:${target}`,
    encryptionKey: Deno.env.get("NEW_DATABASE_ENCRYPTION_KEY") || undefined,
  });
  try {
    await from.execute("SELECT count(*) FROM sqlite_schema");
  } catch (err) {
    console.error(
      `rekey: cannot read ${path} with DATABASE_ENCRYPTION_KEY (${(err as Error).message})`,
    );
    return 2;
  }
  await to.execute("PRAGMA journal_mode = WAL");
  await migrate(to);
  await copyTables(from, to);
  for (const table of await tables(from)) {
    const [a, b] = [await fingerprint(from, table), await fingerprint(to, table)];
    if (a.rows !== b.rows || a.digest !== b.digest) {
      console.error(
        `rekey: ${table} differs after the copy (${a.rows} rows vs ${b.rows}); ${path} untouched`,
      );
      return 1;
    }
    console.error(`rekey: ${table}: ${a.rows} rows copied and verified`);
  }
  await to.execute("PRAGMA wal_checkpoint(TRUNCATE)");
  from.close();
  to.close();
  if (replace) {
    await Deno.rename(path, `${path}.bak`);
    for (const suffix of ["-wal", "-shm"]) await Deno.remove(path + suffix).catch(() => {});
    await Deno.rename(target, path);
    await Deno.remove(`${target}-wal`).catch(() => {});
    await Deno.remove(`${target}-shm`).catch(() => {});
    console.error(`rekey: ${path} now uses the new key; the old file is ${path}.bak`);
  } else {
    console.error(`rekey: wrote ${target}; move it over ${path} while the service is stopped`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

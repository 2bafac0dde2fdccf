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
import type { Client, InValue } from "@libsql/client";
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

async function count(db: Client, table: string): Promise<number> {
  const rs = await db.execute(`SELECT count(*) AS n FROM "${table}"`);
  return Number(rs.rows[0].n);
}

async function fingerprint(db: Client, table: string): Promise<string> {
  // Sum of per-row hashes of the whole row's text, order-independent and cheap.
  const rs = await db.execute(`SELECT * FROM "${table}" ORDER BY rowid`);
  const encoder = new TextEncoder();
  const digest = await crypto.subtle.digest(
    "SHA-256",
    encoder.encode(JSON.stringify(rs.rows.map((r) =>
      rs.columns.map((c) => {
        const value = r[c];
        return value instanceof ArrayBuffer ? Array.from(new Uint8Array(value)) : String(value);
      })
    ))),
  );
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Copies every table of `from` into `to` (whose schema must exist). */
export async function copyTables(from: Client, to: Client): Promise<void> {
  for (const table of await tables(from)) {
    let last = 0;
    for (;;) {
      const rs = await from.execute({
        sql: `SELECT rowid AS __rowid, * FROM "${table}" WHERE rowid > ? ORDER BY rowid LIMIT ?`,
        args: [last, CHUNK],
      });
      if (rs.rows.length === 0) break;
      const columns = rs.columns.filter((c) => c !== "__rowid");
      const row = `(${columns.map(() => "?").join(", ")})`;
      const args: InValue[] = [];
      for (const r of rs.rows) for (const c of columns) args.push(r[c] as InValue);
      await to.execute({
        sql: `INSERT OR REPLACE INTO "${table}" (${
          columns.map((c) => `"${c}"`).join(", ")
        }) VALUES ${rs.rows.map(() => row).join(", ")}`,
        args,
      });
      last = Number(rs.rows[rs.rows.length - 1].__rowid);
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
    const [a, b] = [await count(from, table), await count(to, table)];
    if (a !== b || await fingerprint(from, table) !== await fingerprint(to, table)) {
      console.error(
        `rekey: ${table} differs after the copy (${a} rows vs ${b}); ${path} untouched`,
      );
      return 1;
    }
    console.error(`rekey: ${table}: ${a} rows copied and verified`);
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

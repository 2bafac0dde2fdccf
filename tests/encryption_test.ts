/**
 * Encryption at rest: DATABASE_ENCRYPTION_KEY encrypts the local file; a
 * missing or wrong key stops start-up with exit code 2 and one line, never
 * a new empty database; `deno task rekey` moves the data to another key.
 */
import { equal, ok } from "node:assert/strict";
import { createClient } from "@libsql/client";
import { countRows, publishAll, sessionEnd, startService, startWorld, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const KEY = "correct-horse-battery-staple-0001";

async function runOnce(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../src/main.ts", import.meta.url).pathname],
    env: { PORT: "0", NATS_URL: "ws://127.0.0.1:1", ...env },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test(
  "an encrypted database is unreadable without its key and opens with the right key only",
  opts,
  async () => {
    const world = await startWorld();
    try {
      const event = sessionEnd();
      const service = await startService({
        natsUrl: world.nats.wsUrl,
        databasePath: world.dbPath,
        env: { DATABASE_ENCRYPTION_KEY: KEY },
      });
      await publishAll(world.t.js, [{ payload: event }]);
      const keyed = createClient({ url: `file:${world.dbPath}`, encryptionKey: KEY });
      await waitFor("the row", async () => await countRows(keyed, "session_ends") === 1);
      equal((await service.stop()).code, 0);
      keyed.close();

      // Neither the file nor its WAL holds the row in clear text.
      for (const suffix of ["", "-wal"]) {
        const bytes = await Deno.readFile(world.dbPath + suffix).catch(() => new Uint8Array());
        const text = new TextDecoder("latin1").decode(bytes);
        ok(!text.includes(event.session_id), `session_id in clear in ${suffix || "the file"}`);
        ok(!text.includes("SQLite format 3"), `plain SQLite header in ${suffix || "the file"}`);
      }
      // A plain SQLite client cannot read it.
      const plain = createClient({ url: `file:${world.dbPath}` });
      let plainError = "";
      await plain.execute("SELECT * FROM session_ends").catch((e) => plainError = String(e));
      plain.close();
      ok(plainError.includes("NOTADB"), plainError);

      const databaseUrl = `file:${world.dbPath}`;
      const missing = await runOnce({ DATABASE_URL: databaseUrl });
      equal(missing.code, 2);
      equal(missing.stderr.trim().split("\n").length, 1, missing.stderr);
      ok(missing.stderr.includes("DATABASE_ENCRYPTION_KEY"), missing.stderr);

      const wrong = await runOnce({
        DATABASE_URL: databaseUrl,
        DATABASE_ENCRYPTION_KEY: "not-the-right-key-at-all",
      });
      equal(wrong.code, 2);
      ok(wrong.stderr.includes("cannot be decrypted"), wrong.stderr);

      const right = createClient({ url: databaseUrl, encryptionKey: KEY });
      equal(await countRows(right, "session_ends"), 1);
      right.close();
    } finally {
      await world.close();
    }
  },
);

Deno.test(
  "rekey copies every row under a new key, verifies it, and the old key stops working",
  opts,
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/audit.db`;
      const db = createClient({ url: `file:${path}`, encryptionKey: KEY });
      const { migrate } = await import("../src/store/migrations.ts");
      await migrate(db);
      for (let i = 0; i < 1200; i++) {
        await db.execute({
          sql:
            `INSERT INTO session_ends (session_id, tenant_id, device_id, sort_time, stream_seq, recorded_at)
              VALUES (?, 't', 'd', ?, ?, 0)`,
          args: [crypto.randomUUID(), i, i],
        });
      }
      db.close();
      const newKey = "a-brand-new-key-for-2027-rotation";
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../scripts/rekey.ts", import.meta.url).pathname,
          "--replace",
          path,
        ],
        env: { DATABASE_ENCRYPTION_KEY: KEY, NEW_DATABASE_ENCRYPTION_KEY: newKey },
        stdout: "null",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      equal(out.code, 0, stderr);
      ok(stderr.includes("session_ends: 1200 rows copied and verified"), stderr);
      const rekeyed = createClient({ url: `file:${path}`, encryptionKey: newKey });
      equal(await countRows(rekeyed, "session_ends"), 1200);
      rekeyed.close();
      const old = createClient({ url: `file:${path}`, encryptionKey: KEY });
      let oldError = "";
      await old.execute("SELECT 1 FROM session_ends").catch((e) => oldError = String(e));
      old.close();
      ok(oldError.includes("NOTADB"), `the old key still opens the file: ${oldError}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

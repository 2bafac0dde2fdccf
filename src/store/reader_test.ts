import { deepStrictEqual, equal, rejects } from "node:assert/strict";
import NativeDatabase from "libsql/promise";
import { InterruptibleReader } from "./reader.ts";

const ENDLESS =
  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";

async function withReader(
  body: (reader: InterruptibleReader, path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const reader = new InterruptibleReader(`${dir}/r.db`, { timeoutMs: 1_000 });
  try {
    await body(reader, `${dir}/r.db`);
  } finally {
    reader.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("rows come back by index and by column name, as @libsql/client returns them", () =>
  withReader(async (reader) => {
    const rows = await reader.execute(
      { sql: "SELECT ? AS a, 'x' AS b UNION ALL SELECT 2, NULL", args: [1] },
      new AbortController().signal,
    );
    deepStrictEqual(rows.map((r) => [r[0], r[1], r.a, r.b, r.length]), [
      [1, "x", 1, "x", 2],
      [2, null, 2, null, 2],
    ]);
    deepStrictEqual(Object.keys(rows[0]), ["a", "b"]);
  }));

Deno.test("a query that would never end is interrupted when its signal aborts", () =>
  withReader(async (reader) => {
    const controller = new AbortController();
    const running = reader.execute(ENDLESS, controller.signal);
    // Queued behind it on the one connection: it gives up when its own signal aborts.
    const waiting = new AbortController();
    const queued = reader.execute("SELECT 1", waiting.signal);
    waiting.abort(new Error("gave up waiting"));
    await rejects(queued, /gave up waiting/);
    setTimeout(() => controller.abort(new Error("budget spent")), 50);
    await rejects(running, /budget spent/);
    // The connection is usable again.
    const rows = await reader.execute("SELECT 42 AS n", new AbortController().signal);
    equal(rows[0].n, 42);
  }));

Deno.test("a snapshot reads the database as it was at its first read, whatever is committed meanwhile", () =>
  withReader(async (reader, path) => {
    const writer = new NativeDatabase(path, {});
    try {
      await writer.exec("PRAGMA journal_mode = WAL");
      await writer.exec("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1)");
      const never = new AbortController().signal;
      const seen = await reader.snapshot(async (tx) => {
        const before = (await tx.execute("SELECT count(*) AS n FROM t")).rows[0].n;
        await writer.exec("INSERT INTO t VALUES (2)");
        const after = (await tx.execute("SELECT count(*) AS n FROM t")).rows[0].n;
        return [before, after];
      }, never);
      deepStrictEqual(seen, [1, 1]);
      // Outside the snapshot the write is there.
      equal((await reader.execute("SELECT count(*) AS n FROM t", never))[0].n, 2);
    } finally {
      writer.close();
    }
  }));

Deno.test("a snapshot's query is interrupted when its signal aborts, and its connection let go", () =>
  withReader(async (reader) => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("shutting down")), 50);
    await rejects(
      reader.snapshot((tx) => tx.execute(ENDLESS), controller.signal),
      /shutting down/,
    );
    const rows = await reader.execute("SELECT 42 AS n", new AbortController().signal);
    equal(rows[0].n, 42);
  }));

Deno.test("closing the reader interrupts a snapshot's running query and refuses later reads", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const never = new AbortController().signal;
    const reader = new InterruptibleReader(`${dir}/r.db`, { timeoutMs: 1_000 });
    const walking = reader.snapshot((tx) => tx.execute(ENDLESS), never);
    setTimeout(() => reader.close(), 50);
    await rejects(walking, /interrupt/i);
    await rejects(reader.execute("SELECT 1", never), /closed/);
    await rejects(reader.snapshot((tx) => tx.execute("SELECT 1"), never), /closed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

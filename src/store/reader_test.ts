import { deepStrictEqual, equal, rejects } from "node:assert/strict";
import { InterruptibleReader } from "./reader.ts";

const ENDLESS =
  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";

async function withReader(body: (reader: InterruptibleReader) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  const reader = new InterruptibleReader(`${dir}/r.db`, { timeoutMs: 1_000 });
  try {
    await body(reader);
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

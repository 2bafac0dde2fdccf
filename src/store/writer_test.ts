import { equal, rejects } from "node:assert/strict";
import { REFUSING_TABLE } from "../testing/refusing_table.ts";
import { LocalWriter } from "./writer.ts";

/** A fresh file with one table, its writer, and a count of the table's rows. */
async function withWriter(
  fn: (writer: LocalWriter, rows: () => Promise<number>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-writer-" });
  const writer = new LocalWriter(`${dir}/w.db`, { timeoutMs: 1_000 });
  try {
    await writer.transaction((tx) => tx.batch([...REFUSING_TABLE]));
    const rows = async () =>
      Number(
        (await writer.transaction((tx) => tx.execute("SELECT count(*) AS n FROM t"))).rows[0].n,
      );
    await fn(writer, rows);
  } finally {
    writer.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a transaction in which a statement failed never commits, even when the work caught it", async () => {
  await withWriter(async (writer, rows) => {
    await rejects(
      writer.transaction(async (tx) => {
        await tx.execute({ sql: "INSERT INTO t VALUES (?)", args: ["a"] });
        // The work swallows the failure and carries on, as careless code would.
        await tx.execute({ sql: "INSERT INTO t VALUES (?)", args: ["poison"] }).catch(() => {});
        await tx.execute({ sql: "INSERT INTO t VALUES (?)", args: ["b"] }).catch(() => {});
        return "done";
      }),
      /poison refused/,
    );
    equal(await rows(), 0, "neither the statement before the failure nor the one after");
  });
});

Deno.test("the statements after a failed one are refused with its error", async () => {
  await withWriter(async (writer) => {
    await writer.transaction(async (tx) => {
      const failed = tx.execute({ sql: "INSERT INTO t VALUES (?)", args: ["poison"] });
      const next = tx.execute({ sql: "INSERT INTO t VALUES (?)", args: ["after"] });
      await rejects(failed, /poison refused/);
      await rejects(next, /poison refused/);
    }).catch(() => {});
  });
});

Deno.test("ROLLBACK waits for the statements already queued: none runs after it, outside the transaction", async () => {
  await withWriter(async (writer, rows) => {
    await rejects(
      writer.transaction((tx) => {
        // Queued, not awaited, and the work fails at once.
        for (let i = 0; i < 20; i++) {
          tx.execute({ sql: "INSERT INTO t VALUES (?)", args: [`queued ${i}`] }).catch(() => {});
        }
        return Promise.reject(new Error("the work failed"));
      }),
      /the work failed/,
    );
    equal(await rows(), 0, "a statement that ran after ROLLBACK would have committed on its own");
  });
});

Deno.test("a statement given after its transaction ended is refused", async () => {
  await withWriter(async (writer, rows) => {
    let late: (() => Promise<unknown>) | undefined;
    await writer.transaction((tx) => {
      late = () => tx.execute({ sql: "INSERT INTO t VALUES (?)", args: ["late"] });
      return Promise.resolve();
    });
    await rejects(late?.() ?? Promise.resolve(), /the transaction is over/);
    equal(await rows(), 0);
  });
});

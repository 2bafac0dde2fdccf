import { equal, rejects } from "node:assert/strict";
import { classifyDbError, describeDbError, mayBreakConnection } from "./db_errors.ts";
import { REFUSING_TABLE } from "../testing/refusing_table.ts";
import { LocalWriter } from "./writer.ts";

/** An error as libSQL reports it: a code and a message. */
function libsql(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

Deno.test("busy, locked, I/O, full, read-only and unreachable databases are transient", () => {
  const transient = [
    libsql("SQLITE_BUSY", "database is locked"),
    libsql("SQLITE_BUSY_SNAPSHOT", "database is locked"),
    libsql("SQLITE_LOCKED", "database table is locked"),
    libsql("SQLITE_IOERR_WRITE", "disk I/O error"),
    libsql("SQLITE_FULL", "database or disk is full"),
    libsql("SQLITE_READONLY", "attempt to write a readonly database"),
    libsql("SQLITE_CANTOPEN", "unable to open database file"),
    libsql("SERVER_ERROR", "Server returned HTTP status 503"),
    libsql("HRANA_WEBSOCKET_ERROR", "WebSocket closed"),
    libsql("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:8080"),
    // A schema this process does not expect is not the row's fault either.
    libsql("SQLITE_ERROR", "no such column: source_port"),
    new TypeError("fetch failed"),
    new Error("the database writer is closed"),
    Object.assign(new Error("request failed"), { cause: libsql("ECONNRESET", "reset") }),
  ];
  for (const err of transient) equal(classifyDbError(err), "transient", describeDbError(err));
});

Deno.test("what one row makes the database refuse, and anything unknown, is deterministic", () => {
  const deterministic = [
    libsql("SQLITE_CONSTRAINT_TRIGGER", "poison refused"),
    libsql("SQLITE_CONSTRAINT_CHECK", "CHECK constraint failed: reason"),
    libsql("SQLITE_TOOBIG", "string or blob too big"),
    new Error("1 of 3 session ends to write were not inserted"),
    new Error("something nobody expected"),
    "a thrown string",
    undefined,
  ];
  for (const err of deterministic) {
    equal(classifyDbError(err), "deterministic", describeDbError(err));
  }
});

Deno.test("a description names the code once, and the message", () => {
  equal(
    describeDbError(libsql("SQLITE_BUSY", "database is locked")),
    "SQLITE_BUSY: database is locked",
  );
  equal(
    describeDbError(libsql("SQLITE_BUSY", "SQLITE_BUSY: database is locked")),
    "SQLITE_BUSY: database is locked",
  );
  equal(describeDbError(new Error("plain")), "plain");
});

Deno.test("only errors that can break a connection replace it", () => {
  equal(mayBreakConnection(libsql("SQLITE_BUSY", "database is locked")), true);
  equal(mayBreakConnection(new Error("cannot commit - SQL statements in progress")), true);
  equal(mayBreakConnection(libsql("SQLITE_CONSTRAINT_TRIGGER", "poison refused")), false);
});

Deno.test("real errors of a local database are classified as they come", async () => {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-errors-" });
  const path = `${dir}/e.db`;
  const writer = new LocalWriter(path, { timeoutMs: 50 });
  const other = new LocalWriter(path, { timeoutMs: 50 });
  try {
    await writer.transaction((tx) => tx.batch([...REFUSING_TABLE]));
    let refusal: unknown;
    await rejects(
      writer.transaction((tx) => tx.execute({ sql: "INSERT INTO t VALUES (?)", args: ["poison"] }))
        .catch((err) => {
          refusal = err;
          throw err;
        }),
    );
    equal(classifyDbError(refusal), "deterministic", describeDbError(refusal));
    // Another connection holds the write lock past the busy timeout: the writer tries once the
    // other's INSERT has run (its BEGIN IMMEDIATE took the lock), not before.
    const locked = Promise.withResolvers<void>();
    const held = Promise.withResolvers<void>();
    const holding = other.transaction(async (tx) => {
      await tx.execute({ sql: "INSERT INTO t VALUES (?)", args: ["held"] });
      locked.resolve();
      await held.promise;
    });
    await locked.promise;
    let busy: unknown;
    await rejects(
      writer.transaction((tx) => tx.execute("SELECT 1")).catch((err) => {
        busy = err;
        throw err;
      }),
    );
    held.resolve();
    await holding;
    equal(classifyDbError(busy), "transient", describeDbError(busy));
  } finally {
    writer.close();
    other.close();
    await Deno.remove(dir, { recursive: true });
  }
});

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { createLogger } from "./log.ts";

function capture(): { lines: string[]; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  return { lines, records: () => lines.map((line) => JSON.parse(line)) };
}

Deno.test("each log call writes one JSON line with time, level and message", () => {
  const out = capture();
  const logger = createLogger("debug", (line) => out.lines.push(line));
  const before = Date.now();
  logger.info("consumer bound", { durable: "d", attempt: 2, ok: true, detail: { a: [1] } });
  equal(out.lines.length, 1);
  ok(!out.lines[0].includes("\n"));
  const [record] = out.records();
  equal(record.level, "info");
  equal(record.msg, "consumer bound");
  equal(record.durable, "d");
  equal(record.attempt, 2);
  equal(record.ok, true);
  deepStrictEqual(record.detail, { a: [1] });
  const time = Date.parse(record.time as string);
  ok(time >= before - 1 && time <= Date.now() + 1, `time ${record.time} is not now`);
});

Deno.test("a message with line breaks stays on one line", () => {
  const out = capture();
  createLogger("info", (line) => out.lines.push(line)).warn("first\nsecond", { why: "a\nb" });
  equal(out.lines.length, 1);
  ok(!out.lines[0].includes("\n"));
  equal(out.records()[0].msg, "first\nsecond");
});

Deno.test("lines below the logger's level are not written", () => {
  const out = capture();
  const logger = createLogger("warn", (line) => out.lines.push(line));
  logger.debug("d");
  logger.info("i");
  logger.warn("w");
  logger.error("e");
  deepStrictEqual(out.records().map((r) => [r.level, r.msg]), [["warn", "w"], ["error", "e"]]);
});

Deno.test("every level is written at debug, only errors at error", () => {
  const all = capture();
  const debug = createLogger("debug", (line) => all.lines.push(line));
  debug.debug("1");
  debug.info("2");
  debug.warn("3");
  debug.error("4");
  deepStrictEqual(all.records().map((r) => r.level), ["debug", "info", "warn", "error"]);

  const errors = capture();
  const error = createLogger("error", (line) => errors.lines.push(line));
  error.warn("no");
  error.error("yes");
  deepStrictEqual(errors.records().map((r) => r.msg), ["yes"]);
});

Deno.test("an Error field is written as its message, with its code when it has one", () => {
  const out = capture();
  const logger = createLogger("info", (line) => out.lines.push(line));
  const coded = Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
  logger.error("batch failed", { err: new TypeError("boom"), cause: coded });
  const [record] = out.records();
  equal(record.err, "boom");
  equal(record.cause, "database is locked (SQLITE_BUSY)");
});

Deno.test("a child logger adds its fields to every line, and children nest", () => {
  const out = capture();
  const logger = createLogger("info", (line) => out.lines.push(line));
  const ingest = logger.child({ component: "ingest" });
  const batch = ingest.child({ batch: 7 });
  batch.info("stored", { rows: 3 });
  ingest.info("idle");
  logger.info("plain");
  const [first, second, third] = out.records();
  equal(first.component, "ingest");
  equal(first.batch, 7);
  equal(first.rows, 3);
  equal(second.component, "ingest");
  ok(!("batch" in second));
  ok(!("component" in third));
});

Deno.test("a child keeps its parent's level", () => {
  const out = capture();
  const child = createLogger("warn", (line) => out.lines.push(line)).child({ c: 1 });
  child.info("hidden");
  child.warn("shown");
  deepStrictEqual(out.records().map((r) => r.msg), ["shown"]);
});

Deno.test("fields given to a call override the child's fields of the same name", () => {
  const out = capture();
  createLogger("info", (line) => out.lines.push(line)).child({ attempt: 1 }).info("retry", {
    attempt: 2,
  });
  equal(out.records()[0].attempt, 2);
});

Deno.test("a BigInt or a cyclic field never breaks logging", () => {
  const out = capture();
  const logger = createLogger("info", (line) => out.lines.push(line));
  const cyclic: Record<string, unknown> = { name: "loop" };
  cyclic.self = cyclic;
  logger.info("odd fields", { big: 12n, cyclic });
  equal(out.lines.length, 1);
  const [record] = out.records();
  equal(record.big, "12");
  deepStrictEqual(record.cyclic, { name: "loop", self: "[circular]" });
});

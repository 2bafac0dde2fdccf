import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import type { InStatement, InValue } from "@libsql/client";
import {
  chainHeadsSql,
  chunked,
  currentVersionsSql,
  deadLetterOf,
  type IncomingSessionEnd,
  INSERT_CHUNK,
  insertDeadLettersSql,
  insertSessionEndsSql,
  markCorrectedSql,
  TAIL_SIZES,
  upsertChainHeadsSql,
} from "./session_end_sql.ts";
import { deadLetter, DEVICE, incoming, NOW, sessionId, TENANT } from "../../tests/store_fixture.ts";

const USER = "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f";
const KEYS = new Map([[TENANT, 1], [DEVICE, 2], [USER, 3]]);

/** `stmt` as SQL text and positional arguments. */
function parts(stmt: InStatement): { sql: string; args: InValue[] } {
  if (typeof stmt === "string") return { sql: stmt, args: [] };
  ok(Array.isArray(stmt.args), "positional arguments");
  return { sql: stmt.sql, args: stmt.args };
}

/** The rows of a multi-row INSERT as objects keyed by its column names. */
function insertedRows(stmt: InStatement): Record<string, InValue>[] {
  const { sql, args } = parts(stmt);
  const columns = /\(([a-z_, ]+)\) VALUES/.exec(sql)?.[1].split(", ") ?? [];
  equal(args.length % columns.length, 0, "whole rows of arguments");
  const rows = [];
  for (let at = 0; at < args.length; at += columns.length) {
    rows.push(Object.fromEntries(columns.map((column, i) => [column, args[at + i]])));
  }
  return rows;
}

/** How many `?` a statement binds. */
function placeholderCount(sql: string): number {
  return sql.split("?").length - 1;
}

Deno.test("statements come in a fixed set of sizes, the last padded by repeating its first item", () => {
  deepStrictEqual(chunked([]), []);
  deepStrictEqual(chunked(["a"]), [["a"]]);
  deepStrictEqual(chunked(["a", "b"]), [["a", "b", "a", "a"]]);
  const sizes = new Set<number>();
  for (let n = 1; n < 3 * INSERT_CHUNK; n += 7) {
    const items = Array.from({ length: n }, (_, i) => i);
    const chunks = chunked(items);
    for (const chunk of chunks) sizes.add(chunk.length);
    deepStrictEqual([...new Set(chunks.flat())], items, `n=${n}: every item once, in order`);
    ok(chunks.slice(0, -1).every((c) => c.length === INSERT_CHUNK), `n=${n}: full chunks first`);
  }
  deepStrictEqual([...sizes].sort((a, b) => a - b), [...TAIL_SIZES, INSERT_CHUNK]);
});

Deno.test("a session end's arguments are its columns; sort_time falls back to the receipt time", () => {
  const anomalies = [{
    field: "reason" as const,
    value: "a\u0007",
    problem: "contains a control character",
  }];
  const chained: IncomingSessionEnd = {
    ...incoming(1, { userId: USER, reason: null, sourcePort: 53122, anomalies }),
    chain: { seq: 7, hash: "ab".repeat(32) },
    corrects: { id: 3, tenantId: TENANT, streamSeq: 9, chainSeq: 4 },
  };
  const unchained = incoming(2, { endTime: null, durationSeconds: null, sourceIp: null });
  const [statement, ...more] = insertSessionEndsSql([chained, unchained], NOW, KEYS);
  equal(more.length, 0);
  match(parts(statement).sql, /^INSERT OR IGNORE INTO session_ends /);
  const rows = insertedRows(statement);
  // Each field of the event in the column of the same name (sessionId in session_id, ...).
  const { event } = chained;
  const sameNames = Object.entries(event).map(([field, value]) => [
    field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
    value,
  ]);
  deepStrictEqual(rows[0], {
    ...Object.fromEntries(sameNames),
    anomalies: JSON.stringify(anomalies),
    sort_time: event.endTime,
    stream_seq: chained.streamSeq,
    recorded_at: NOW,
    chain_version: 2,
    chain_seq: 7,
    chain_hash: "ab".repeat(32),
    corrects: 4,
    tenant_key: 1,
    device_key: 2,
    user_key: 3,
  });
  deepStrictEqual(
    [
      rows[1].sort_time,
      rows[1].end_time,
      rows[1].user_key,
      rows[1].chain_seq,
      rows[1].chain_hash,
      rows[1].anomalies,
      rows[1].corrects,
    ],
    [unchained.receivedAt, null, null, null, null, null, null],
  );
  deepStrictEqual(rows.slice(2), [rows[0], rows[0]], "padded to 4 rows with the first one");
});

Deno.test("every statement binds as many arguments as it has placeholders, in a few fixed texts", () => {
  const texts = new Set<string>();
  for (const n of [1, 3, 17, 255, 999, 1_000, 1_001, 2_500]) {
    const rows = Array.from({ length: n }, (_, i) => incoming(i));
    const statements = insertSessionEndsSql(rows, NOW, KEYS);
    let distinct = new Set<unknown>();
    for (const stmt of statements) {
      const { sql, args } = parts(stmt);
      equal(placeholderCount(sql), args.length, `n=${n}`);
      ok([...TAIL_SIZES, INSERT_CHUNK].includes(args.length / 21), `n=${n}: ${args.length / 21}`);
      texts.add(sql);
      distinct = new Set([...distinct, ...insertedRows(stmt).map((r) => r.session_id)]);
    }
    equal(distinct.size, n, `n=${n}: every row once`);
  }
  ok(texts.size <= TAIL_SIZES.length + 1, `${texts.size} statement texts`);
});

Deno.test("a row whose id has no resolved key is refused, not stored without it", () => {
  const keys = new Map([[TENANT, 1]]);
  throws(() => insertSessionEndsSql([incoming(1)], NOW, keys), new RegExp(`no key .* ${DEVICE}`));
});

Deno.test("dead letters are inserted verbatim, a redelivered one ignored", () => {
  const payload = new Uint8Array([0x7b, 0x00, 0xff]);
  const statements = insertDeadLettersSql([deadLetter(17, payload)], NOW);
  equal(statements.length, 1);
  const { sql, args } = parts(statements[0]);
  match(sql, /ON CONFLICT \(stream, stream_seq, received_at\) DO NOTHING$/);
  equal(placeholderCount(sql), args.length);
  deepStrictEqual(insertedRows(statements[0])[0], {
    stream: "DEVICE_EVENTS",
    stream_seq: 17,
    subject: "audit.session.end.bad-17",
    payload,
    error: "session_id: must be a UUID",
    received_at: NOW - 5_000,
    quarantined_at: NOW,
  });
  equal(insertDeadLettersSql([], NOW).length, 0);
});

Deno.test("a correction first marks the version it replaces with its own position", () => {
  const correction: IncomingSessionEnd = {
    ...incoming(1, {}, 3),
    chain: { seq: 12, hash: "f".repeat(64) },
    corrects: { id: 40, tenantId: TENANT, streamSeq: 5, chainSeq: 8 },
  };
  deepStrictEqual(markCorrectedSql([incoming(2), correction]).map(parts), [{
    sql: "UPDATE session_ends SET corrected_by = ? WHERE id = ? AND corrected_by IS NULL",
    args: [12, 40],
  }]);
});

Deno.test("a row's message becomes a dead letter verbatim, with the error", () => {
  const row = incoming(1);
  deepStrictEqual(deadLetterOf(row, "refused"), {
    stream: "DEVICE_EVENTS",
    streamSeq: row.streamSeq,
    subject: row.subject,
    payload: row.payload,
    error: "refused",
    receivedAt: row.receivedAt,
  });
});

Deno.test("the chain heads of the moved tenants are upserted to their new seq and hash", () => {
  const other = "1b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3";
  const mine = { tenant_id: TENANT, seq: 3, hash: "c".repeat(64) };
  const theirs = { tenant_id: other, seq: 1, hash: "d".repeat(64) };
  const heads = new Map(
    [mine, theirs].map(({ tenant_id, seq, hash }) => [tenant_id, { seq, hash }]),
  );
  const [statement, ...more] = upsertChainHeadsSql([TENANT, other], heads);
  equal(more.length, 0);
  const { sql, args } = parts(statement);
  match(sql, /ON CONFLICT \(tenant_id\) DO UPDATE SET seq = excluded.seq, hash = excluded.hash/);
  equal(placeholderCount(sql), args.length);
  deepStrictEqual(insertedRows(statement), [mine, theirs, mine, mine]);
});

Deno.test("the reads that confirm a chain bind one JSON list however many ids", () => {
  const ids = Array.from({ length: 2_500 }, (_, i) => sessionId(i));
  for (const stmt of [currentVersionsSql(ids), chainHeadsSql([TENANT])]) {
    const { sql } = parts(stmt);
    equal(placeholderCount(sql), 1);
    match(sql, /IN \(SELECT value FROM json_each\(\?\)\)/);
  }
  deepStrictEqual(parts(currentVersionsSql(ids)).args, [JSON.stringify(ids)]);
  match(parts(currentVersionsSql(ids)).sql, /AND corrected_by IS NULL/, "current versions only");
  deepStrictEqual(parts(chainHeadsSql([TENANT])).args, [JSON.stringify([TENANT])]);
});

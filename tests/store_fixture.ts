/**
 * Fixtures of the store's tests: a migrated libSQL file in a fresh temp dir,
 * session ends and dead letters of one tenant and device, and the reads the
 * tests assert on.
 *
 * @module
 */
import { deepStrictEqual, equal } from "node:assert/strict";
import { createClient, type Row } from "@libsql/client";
import type { SessionEnd } from "../src/event.ts";
import { canonicalRowV2 } from "../src/integrity/canonical.ts";
import { chainHash, GENESIS_HASH } from "../src/integrity/chain.ts";
import { Database } from "../src/store/client.ts";
import { migrate } from "../src/store/migrations.ts";
import { listSessionEndsSql } from "../src/store/queries.ts";
import type { DeadLetter, IncomingSessionEnd } from "../src/store/session_end_sql.ts";

/** The tenant of every fixture row. */
export const TENANT = "0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3";
/** The device of every fixture row unless changed. */
export const DEVICE = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
/** A second device of {@linkcode TENANT}. */
export const DEVICE_2 = "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9";
/** A third device of {@linkcode TENANT}. */
export const DEVICE_3 = "7c6b5a49-3827-4165-9f4e-3d2c1b0a9f8e";
/** When the fixture sessions start, epoch ms. */
export const START = Date.UTC(2026, 2, 12, 10, 0, 0);
/** The `recorded_at` the tests store with, epoch ms. */
export const NOW = Date.UTC(2026, 2, 12, 11, 0, 0);

/** A distinct, valid session id for `n`. */
export function sessionId(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

/** `event` as the message at `streamSeq` delivered it (subject and payload made up from it). */
export function arriving(event: SessionEnd, streamSeq: number, receivedAt = 0): IncomingSessionEnd {
  return {
    event,
    stream: "DEVICE_EVENTS",
    streamSeq,
    subject: `audit.session.end.${event.sessionId}`,
    payload: new TextEncoder().encode(JSON.stringify({ session_id: event.sessionId })),
    receivedAt,
  };
}

/** Session `n` of {@linkcode TENANT} on {@linkcode DEVICE}, with `changes`, at stream sequence `streamSeq`. */
export function incoming(
  n: number,
  changes: Partial<SessionEnd> = {},
  streamSeq = n + 1,
): IncomingSessionEnd {
  const event: SessionEnd = {
    sessionId: sessionId(n),
    tenantId: TENANT,
    deviceId: DEVICE,
    userId: null,
    startTime: START,
    endTime: START + 900_000,
    durationSeconds: 900,
    sourceIp: "203.0.113.7",
    sourcePort: null,
    reason: "normal",
    anomalies: [],
    ...changes,
  };
  return arriving(event, streamSeq, START + 901_000);
}

/**
 * Session `n` of `tenantId`, varied by `n`: a user on two in three, a port on
 * odd ones, `idle_timeout` every fifth, an anomaly every seventh.
 */
export function tenantEvent(tenantId: string, n: number): SessionEnd {
  return {
    sessionId: crypto.randomUUID(),
    tenantId,
    deviceId: "dddddddd-0000-4000-8000-00000000000d",
    userId: n % 3 ? "eeeeeeee-0000-4000-8000-00000000000e" : null,
    startTime: Date.UTC(2026, 2, 12) + n * 1000,
    endTime: Date.UTC(2026, 2, 12) + n * 1000 + 900_000,
    durationSeconds: 900,
    sourceIp: "203.0.113.7",
    sourcePort: n % 2 ? 50_000 + n : null,
    reason: n % 5 ? "normal" : "idle_timeout",
    anomalies: n % 7 ? [] : [{ field: "user_id", value: "nobody", problem: "not a UUID" }],
  };
}

/** A dead letter at `streamSeq` holding `payload`. */
export function deadLetter(
  streamSeq: number,
  payload: Uint8Array,
  receivedAt = NOW - 5_000,
): DeadLetter {
  return {
    stream: "DEVICE_EVENTS",
    streamSeq,
    subject: `audit.session.end.bad-${streamSeq}`,
    payload,
    error: "session_id: must be a UUID",
    receivedAt,
  };
}

/** Runs `fn` against a migrated database in a fresh temp directory, then removes it. */
export async function withDb(fn: (db: Database, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-store-" });
  const path = `${dir}/audit.db`;
  const db = await Database.open({ databaseUrl: `file:${path}` });
  try {
    await migrate(db.client);
    await fn(db, path);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Copies the database file at `from` to `to` (`VACUUM INTO`), for one tampering each; returns `to`. */
export async function copyDatabaseFile(from: string, to: string): Promise<string> {
  const raw = createClient({ url: `file:${from}` });
  try {
    await raw.execute({ sql: "VACUUM INTO ?", args: [to] });
  } finally {
    raw.close();
  }
  return to;
}

/** Every stored session end, in insertion order. */
export async function sessionRows(db: Database): Promise<Row[]> {
  return (await db.execute("SELECT * FROM session_ends ORDER BY id")).rows;
}

/** The integer key stored for `id` in `id_keys`. */
export async function keyOf(db: Database, id: string): Promise<number> {
  const rs = await db.execute({ sql: "SELECT key FROM id_keys WHERE value = ?", args: [id] });
  equal(rs.rows.length, 1, `one key for ${id}`);
  return Number(rs.rows[0].key);
}

/** The number of rows in `table`. */
export async function count(
  db: Database,
  table: "session_ends" | "dead_letters" | "chain_heads" | "id_keys",
): Promise<number> {
  return Number((await db.execute(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
}

/** The session_ids {@linkcode TENANT}'s list narrowed to `deviceId` returns. */
export async function listedForDevice(db: Database, deviceId: string): Promise<string[]> {
  const rs = await db.execute(
    listSessionEndsSql({ tenantId: TENANT, deviceId }, { limit: 50 }),
  );
  return rs.rows.map((r) => String(r.session_id)).sort();
}

/**
 * Asserts that {@linkcode TENANT}'s stored chain is exactly the chain of
 * `links` (each row with its `recorded_at`), in order from position 1, and
 * that its head is the last link: computed here from the inputs with the
 * canonical encoding, not read back from the rows.
 */
export async function assertChain(
  db: Database,
  links: Array<[IncomingSessionEnd, number]>,
): Promise<void> {
  const expected: Array<[string, number, string]> = [];
  let previous = GENESIS_HASH;
  for (const [{ event, streamSeq }, recordedAt] of links) {
    const seq = expected.length + 1;
    previous = chainHash(
      previous,
      canonicalRowV2({ ...event, chainSeq: seq, recordedAt, streamSeq, corrects: null }),
    );
    expected.push([event.sessionId, seq, previous]);
  }
  const rs = await db.execute({
    sql: "SELECT session_id, chain_seq, chain_hash FROM session_ends WHERE tenant_id = ? " +
      "ORDER BY chain_seq",
    args: [TENANT],
  });
  deepStrictEqual(rs.rows.map((r) => [r.session_id, r.chain_seq, r.chain_hash]), expected);
  const head = await db.execute({
    sql: "SELECT seq, hash FROM chain_heads WHERE tenant_id = ?",
    args: [TENANT],
  });
  deepStrictEqual(
    head.rows.map((r) => [Number(r.seq), r.hash]),
    [[expected.length, previous]],
    "the head is the last link",
  );
}

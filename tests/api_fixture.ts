/**
 * Fixtures of the read-API tests: a migrated libSQL file in a temp dir, the
 * app built on it, tokens, and a deterministic set of session ends whose
 * expected listings the tests compute in plain JavaScript.
 *
 * @module
 */
import { sign } from "hono/jwt";
import type { Hono } from "hono";
import { type AppDeps, createApp } from "../src/api/app.ts";
import { mintToken } from "../src/api/token.ts";
import { type Config, loadConfig } from "../src/config.ts";
import type { SessionEnd } from "../src/event.ts";
import { createLogger } from "../src/log.ts";
import { Metrics } from "../src/metrics.ts";
import { Readiness } from "../src/readiness.ts";
import { Database } from "../src/store/client.ts";
import { migrate } from "../src/store/migrations.ts";
import { storeBatch } from "../src/store/commit.ts";
import { arriving } from "./store_fixture.ts";
import type { IncomingSessionEnd } from "../src/store/session_end_sql.ts";

/** The API secret of every test app. */
export const SECRET = "api-test-secret-0123456789-abcdefghij";

/** Tenants of the fixture. A has most rows; B and C are the "foreign" ones. */
export const TENANT_A = "aaaaaaaa-0000-4000-8000-000000000001";
export const TENANT_B = "bbbbbbbb-0000-4000-8000-000000000002";
export const TENANT_C = "cccccccc-0000-4000-8000-000000000003";

/** A libSQL file in a fresh temp dir, migrated. */
export interface TestDb {
  db: Database;
  url: string;
  close(): Promise<void>;
}

/** Opens a migrated database in a new temp dir; `close()` removes it. */
export async function openTestDb(): Promise<TestDb> {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-api-" });
  const url = `file:${dir}/audit.db`;
  const db = await Database.open({ databaseUrl: url });
  await migrate(db.client);
  return {
    db,
    url,
    close: async () => {
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** An app over `db`, with the log lines it wrote. */
export interface TestApp {
  app: Hono;
  logLines: string[];
}

/**
 * Builds the app; `env` overrides the test environment (API_JWT_SECRET =
 * {@linkcode SECRET}), `deps` the parts built from it (such as the token verifier).
 */
export function makeApp(
  db: Database,
  env: Record<string, string | undefined> = {},
  deps: (config: Config) => Partial<AppDeps> = () => ({}),
): TestApp {
  const logLines: string[] = [];
  const config = loadConfig({ API_JWT_SECRET: SECRET, ...env });
  const logger = createLogger("info", (line) => logLines.push(line));
  const app = createApp({
    config,
    db,
    readiness: new Readiness(),
    metrics: new Metrics(),
    logger,
    ...deps(config),
  });
  return { app, logLines };
}

/** A tenant token signed with {@linkcode SECRET}. */
export function tenantToken(tenantId: string): Promise<string> {
  return mintToken({ secret: SECRET, tenantId });
}

/** An admin token signed with {@linkcode SECRET}. */
export function adminToken(): Promise<string> {
  return mintToken({ secret: SECRET, admin: true });
}

/** Signs arbitrary claims with {@linkcode SECRET} (HS256). */
export function signClaims(claims: Record<string, unknown>): Promise<string> {
  return sign(claims, SECRET, "HS256");
}

/** GETs `path` with a bearer token. */
export function get(app: Hono, path: string, token?: string, headers: Record<string, string> = {}) {
  return app.request(path, {
    headers: token === undefined ? headers : { Authorization: `Bearer ${token}`, ...headers },
  });
}

/** One stored row as the fixture knows it (times in epoch ms). */
export interface FixtureRow {
  sessionId: string;
  tenantId: string;
  deviceId: string;
  userId: string | null;
  startTime: number | null;
  endTime: number | null;
  sourceIp: string | null;
  reason: string | null;
  receivedAt: number;
}

/** The list-order key: end time, or receive time when the end is unknown. */
export function sortTimeOf(row: FixtureRow): number {
  return row.endTime ?? row.receivedAt;
}

/** Newest first, ties by session id descending: the API's order, computed in JS. */
export function byListOrder(a: FixtureRow, b: FixtureRow): number {
  const dt = sortTimeOf(b) - sortTimeOf(a);
  if (dt !== 0) return dt;
  return a.sessionId < b.sessionId ? 1 : a.sessionId > b.sessionId ? -1 : 0;
}

/** A deterministic pseudo-random generator (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** A version-4-shaped UUID from a number, lower-case. */
export function uuidFrom(prefix: number, n: number): string {
  return `${hex(prefix, 8)}-${hex(n >>> 16 & 0xffff, 4)}-4${hex(n >>> 4 & 0xfff, 3)}-8${
    hex(n & 0xf, 3)
  }-${hex(n, 12)}`;
}

/** Base of the fixture's times: 2026-03-12T00:00:00Z. */
export const BASE_TIME = Date.UTC(2026, 2, 12);

export const DEVICES = [uuidFrom(0xd0, 1), uuidFrom(0xd0, 2), uuidFrom(0xd0, 3)];
export const USERS = [uuidFrom(0xe0, 1), uuidFrom(0xe0, 2), uuidFrom(0xe0, 3)];
export const REASONS = ["normal", "idle_timeout", "shutdown", "policy kick"];

/**
 * Generates `count` rows for `tenantId`: end times on a coarse minute grid
 * (many ties), about one in eight without an end time, some without user or reason.
 */
export function generateRows(
  tenantId: string,
  count: number,
  seed: number,
  idPrefix: number,
): FixtureRow[] {
  const random = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
  const rows: FixtureRow[] = [];
  for (let i = 0; i < count; i++) {
    const minute = Math.floor(random() * 120);
    const endTime = random() < 0.125 ? null : BASE_TIME + minute * 60_000;
    const startTime = endTime === null ? null : endTime - Math.floor(random() * 3600) * 1000;
    rows.push({
      sessionId: uuidFrom(idPrefix, seed * 100_000 + i),
      tenantId,
      deviceId: pick(DEVICES),
      userId: random() < 0.2 ? null : pick(USERS),
      startTime,
      endTime,
      sourceIp: random() < 0.1 ? null : `203.0.113.${Math.floor(random() * 250)}`,
      reason: random() < 0.1 ? null : pick(REASONS),
      // receive times share the grid too, so NULL-end rows tie with others
      receivedAt: BASE_TIME + Math.floor(random() * 120) * 60_000,
    });
  }
  return rows;
}

function toIncoming(row: FixtureRow, streamSeq: number): IncomingSessionEnd {
  const event: SessionEnd = {
    sessionId: row.sessionId,
    tenantId: row.tenantId,
    deviceId: row.deviceId,
    userId: row.userId,
    startTime: row.startTime,
    endTime: row.endTime,
    durationSeconds: row.startTime === null || row.endTime === null
      ? null
      : Math.trunc((row.endTime - row.startTime) / 1000),
    sourceIp: row.sourceIp,
    sourcePort: null,
    reason: row.reason,
    anomalies: [],
  };
  return arriving(event, streamSeq, row.receivedAt);
}

let seq = 0;

/** Stores rows through the ingest path's own batch writer; returns them as it stored them. */
export async function insertRows(
  db: Database,
  rows: FixtureRow[],
  recordedAt = BASE_TIME,
): Promise<IncomingSessionEnd[]> {
  const incoming = rows.map((row) => toIncoming(row, ++seq));
  await storeBatch(db, incoming, [], recordedAt);
  return incoming;
}

/** The item the API should answer for a fixture row (SPEC §4). */
export function expectedItem(row: FixtureRow, recordedAt = BASE_TIME) {
  const iso = (ms: number | null) =>
    ms === null ? null : new Date(ms).toISOString().replace(".000Z", "Z");
  return {
    session_id: row.sessionId,
    tenant_id: row.tenantId,
    device_id: row.deviceId,
    user_id: row.userId,
    action: "ssh_session_end",
    start_time: iso(row.startTime),
    end_time: iso(row.endTime),
    duration_seconds: row.startTime === null || row.endTime === null
      ? null
      : Math.trunc((row.endTime - row.startTime) / 1000),
    source_ip: row.sourceIp,
    source_port: null,
    reason: row.reason,
    recorded_at: iso(recordedAt),
    anomalies: [],
  };
}

/**
 * An item without its chain fields (`stream_seq`, `chain_version`,
 * `chain_seq`, `chain_hash`, `corrects`, `corrected_by`), after checking
 * their shape (a current, uncorrected version 2 row): what
 * {@linkcode expectedItem} describes.
 */
export function withoutChain(item: Record<string, unknown>): Record<string, unknown> {
  const { stream_seq, chain_version, chain_seq, chain_hash, corrects, corrected_by, ...rest } =
    item;
  if (!(Number.isInteger(chain_seq) && (chain_seq as number) >= 1)) {
    throw new Error(`chain_seq is not a position: ${chain_seq}`);
  }
  if (!/^[0-9a-f]{64}$/.test(String(chain_hash))) {
    throw new Error(`chain_hash is not a SHA-256 hex: ${chain_hash}`);
  }
  if (!Number.isInteger(stream_seq) || chain_version !== 2) {
    throw new Error(`stream_seq ${stream_seq}, chain_version ${chain_version}`);
  }
  if (corrects !== null || corrected_by !== null) {
    throw new Error(`an uncorrected row: corrects ${corrects}, corrected_by ${corrected_by}`);
  }
  return rest;
}

/** The JSON of a list page. */
export interface PageBody {
  items: { session_id: string; tenant_id: string; [key: string]: unknown }[];
  next_cursor: string | null;
}

/** The JSON of an error answer. */
export interface ErrorBodyJson {
  error: { code: string; message: string; param: string | null };
}

/**
 * Walks the list from `query` following `next_cursor` until null; returns
 * every session id in order and the number of pages. `between` runs after each page.
 */
export async function walk(
  app: Hono,
  token: string,
  query: string,
  between: (page: number) => Promise<void> = () => Promise.resolve(),
): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const sep = query ? "&" : "";
    const path: string = `/v1/session-ends?${query}${
      cursor === null ? "" : `${sep}cursor=${encodeURIComponent(cursor)}`
    }`;
    const res = await get(app, path, token);
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    const body = await res.json() as PageBody;
    ids.push(...body.items.map((item) => item.session_id));
    cursor = body.next_cursor;
    pages++;
    await between(pages);
    if (pages > 10_000) throw new Error("walk does not end");
  } while (cursor !== null);
  return { ids, pages };
}

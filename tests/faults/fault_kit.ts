/**
 * What every fault scenario shares: its world and service, the published
 * set, the comparison of the stored set with it (lost, duplicated, foreign),
 * and one result line per scenario that the report in docs/faults.md is made
 * from.
 *
 * @module
 */
import type { Client } from "@libsql/client";
import type { JetStreamClient } from "@nats-io/jetstream";
import { deepStrictEqual, equal } from "node:assert/strict";
import {
  consumerState,
  type Service,
  sessionEnd,
  startService,
  startWorld,
  type TestNats,
  waitFor,
  type World,
} from "../harness.ts";

/** Test options of every fault scenario: child processes and servers outlive single awaits. */
export const FAULT_OPTS = { sanitizeOps: false, sanitizeResources: false };

/**
 * Runs `scenario` in a fresh world (nats-server with the stream, a data
 * directory for the database file) and closes the world afterwards.
 */
export async function withFaultWorld(scenario: (world: World) => Promise<void>): Promise<void> {
  const world = await startWorld();
  await Deno.mkdir(`${world.dir}/data`, { recursive: true });
  try {
    await scenario(world);
  } finally {
    await world.close();
  }
}

/** Starts the service on the world's nats-server and database file, with `env` added. */
export function startWorldService(world: World, env: Record<string, string>): Promise<Service> {
  return startService({ natsUrl: world.nats.wsUrl, databasePath: world.dbPath, env });
}

/** Valid events with distinct session ids, as the poller would publish them. */
export function validEvents(count: number): Array<{ payload: ReturnType<typeof sessionEnd> }> {
  return Array.from({ length: count }, () => ({ payload: sessionEnd() }));
}

/**
 * Publishes each event until the stream acknowledges it, as a retrying
 * producer does: a publish that failed (server down, leader election) is
 * sent again with the same `session_id`, so the intended set is what must
 * be stored. Returns how many publishes were retried.
 */
export async function publishUntilAcked(
  js: JetStreamClient,
  events: Array<{ subject?: string; payload: string | Uint8Array | object }>,
  window = 250,
): Promise<number> {
  let retries = 0;
  const one = async ({ subject, payload }: (typeof events)[number]) => {
    const data = typeof payload === "string" || payload instanceof Uint8Array
      ? payload
      : JSON.stringify(payload);
    const sid = (payload as { session_id?: unknown }).session_id;
    const target = subject ?? `audit.session.end.${typeof sid === "string" ? sid : "x"}`;
    for (let attempt = 0;; attempt++) {
      try {
        await js.publish(target, data, { timeout: 5_000 });
        return;
      } catch (err) {
        retries++;
        if (attempt >= 200) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  for (let i = 0; i < events.length; i += window) {
    await Promise.all(events.slice(i, i + window).map(one));
  }
  return retries;
}

/** The stored set compared with the published one. */
export interface Tally {
  published: number;
  stored: number;
  lost: number;
  duplicated: number;
  /** Stored session ids that were never published. */
  foreign: number;
}

/** Compares `session_ends` with the expected session ids. */
export async function tally(db: Client, expected: Iterable<string>): Promise<Tally> {
  const want = new Set(expected);
  const rs = await db.execute("SELECT session_id FROM session_ends");
  const seen = new Set<string>();
  let duplicated = 0;
  let foreign = 0;
  for (const row of rs.rows) {
    const id = String(row.session_id);
    if (seen.has(id)) duplicated++;
    seen.add(id);
    if (!want.has(id)) foreign++;
  }
  let lost = 0;
  for (const id of want) if (!seen.has(id)) lost++;
  return { published: want.size, stored: rs.rows.length, lost, duplicated, foreign };
}

/** Asserts 0 lost, 0 duplicated, 0 foreign. */
export function assertExact(t: Tally, what: string): void {
  deepStrictEqual(
    { lost: t.lost, duplicated: t.duplicated, foreign: t.foreign, stored: t.stored },
    { lost: 0, duplicated: 0, foreign: 0, stored: t.published },
    what,
  );
}

/** Waits until the consumer has nothing pending and nothing unacknowledged. */
export async function consumerSettled(
  t: TestNats,
  timeoutMs = 120_000,
): Promise<void> {
  await waitFor(
    "the consumer to have nothing pending or unacked",
    async () => {
      const s = await consumerState(t);
      return s.pending === 0 && s.ackPending === 0;
    },
    timeoutMs,
    250,
  );
}

/** Waits until `session_ends` holds `count` rows. */
export async function rowsReach(db: Client, count: number, timeoutMs = 180_000): Promise<void> {
  await waitFor(
    `${count} rows`,
    async () => {
      const rs = await db.execute("SELECT count(*) AS n FROM session_ends");
      return Number(rs.rows[0].n) >= count;
    },
    timeoutMs,
    200,
  );
}

/** The database file passes SQLite's own consistency check. */
export async function assertIntegrity(db: Client): Promise<void> {
  const rs = await db.execute("PRAGMA integrity_check");
  equal(String(rs.rows[0][0]), "ok", "PRAGMA integrity_check");
}

/** Prints one machine-readable result line for the scenario (collected into docs/faults.md). */
export function report(scenario: string, figures: Record<string, unknown>): void {
  console.log(`FAULT-RESULT ${JSON.stringify({ scenario, ...figures })}`);
}

/** Resident memory of a process in KiB, from /proc/<pid>/status. */
export async function residentKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const line = status.split("\n").find((l) => l.startsWith("VmRSS:"));
  return line ? Number(line.replace(/\D+/g, "")) : NaN;
}

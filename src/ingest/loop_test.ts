import { deepStrictEqual, equal } from "node:assert/strict";
import { sessionEnd } from "../../tests/harness.ts";
import { createLogger } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { Readiness } from "../readiness.ts";
import { Database } from "../store/client.ts";
import { migrate } from "../store/migrations.ts";
import { Arrivals } from "../testing/arrivals.ts";
import { FakeMsg } from "../testing/fake_msg.ts";
import { FakeTimers } from "../testing/fake_timers.ts";
import { type BatchLoopDeps, drainBatches } from "./loop.ts";
import { RETRY_MARGIN_MS, retryDelay } from "./retry_gate.ts";

/** A libSQL file that refuses new rows while `refuse(true)`, as a full disk would (a transient failure). */
async function withLoop(
  fn: (
    deps: BatchLoopDeps & { timers: FakeTimers },
    refuse: (on: boolean) => Promise<void>,
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-loop-" });
  const db = await Database.open({ databaseUrl: `file:${dir}/audit.db` });
  try {
    await migrate(db.client);
    await db.execute("CREATE TABLE refuse_writes (refuse INTEGER NOT NULL)");
    await db.execute("INSERT INTO refuse_writes VALUES (0)");
    await db.execute(`CREATE TRIGGER refuse_writes BEFORE INSERT ON session_ends
      WHEN (SELECT refuse FROM refuse_writes) = 1
      BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    const deps = {
      db,
      consumer: { stream: "DEVICE_EVENTS" },
      batchSize: 3,
      timers: new FakeTimers(),
      logger: createLogger("error", () => {}),
      metrics: new Metrics(),
      readiness: new Readiness(),
    };
    await fn(deps, async (on) => {
      await db.execute({ sql: "UPDATE refuse_writes SET refuse = ?", args: [on ? 1 : 0] });
    });
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function storedReasons(db: Database): Promise<Map<string, string>> {
  const rs = await db.execute("SELECT session_id, reason FROM session_ends");
  return new Map(rs.rows.map((r) => [String(r.session_id), String(r.reason)]));
}

function events(deps: BatchLoopDeps, outcome: string): number {
  return deps.metrics.get("session_audit_events_total", { outcome });
}

Deno.test("every message is stored once and settled before the loop returns", async () => {
  await withLoop(async (deps) => {
    const [a, b, c, d, e] = Array.from({ length: 5 }, () => sessionEnd());
    const payloads = [a, b, c, d, { ...a, reason: "normal" }, "{not json", e];
    // Batches of 3, 3 and 1, as the server's pending counts say.
    const pending = [2, 1, 0, 2, 1, 0, 0];
    const msgs = payloads.map((p, i) =>
      new FakeMsg({
        seq: i + 1,
        pending: pending[i],
        data: typeof p === "string" ? p : JSON.stringify(p),
      })
    );
    const arrivals = new Arrivals();
    arrivals.push(...msgs);
    arrivals.end();
    equal(await drainBatches(arrivals, deps, 0), 0);
    deepStrictEqual(
      msgs.map((m) => m.kinds),
      [["ack"], ["ack"], ["ack"], ["ack"], ["ack"], ["term"], ["ack"]],
    );
    const stored = await storedReasons(deps.db);
    deepStrictEqual([...stored.keys()].sort(), [a, b, c, d, e].map((x) => x.session_id).sort());
    equal(stored.get(a.session_id), a.reason, "the first event of a session wins");
    equal(events(deps, "stored"), 5);
    equal(events(deps, "duplicate"), 1);
    equal(events(deps, "quarantined"), 1);
    equal(deps.metrics.get("session_audit_batches_total"), 3);
  });
});

Deno.test("of an idle pair split by a failed commit, idle_timeout comes back first and wins", async () => {
  await withLoop(async (deps, refuse) => {
    const { timers } = deps;
    const idle = sessionEnd({ reason: "idle_timeout" });
    const normal = { ...idle, reason: "normal" };
    const delivery = (seq: number, payload: object) =>
      new FakeMsg({ seq, data: JSON.stringify(payload) });
    const arrivals = new Arrivals();
    await refuse(true);
    const drained = drainBatches(arrivals, deps, 0);
    const first = delivery(1, idle);
    arrivals.push(first);
    deepStrictEqual(await first.settled, { kind: "nak", delay: retryDelay(1) });
    await refuse(false);
    // The producer's `normal` arrives with the database writable again: it must not overtake.
    const second = delivery(2, normal);
    arrivals.push(second);
    deepStrictEqual(
      await second.settled,
      { kind: "nak", delay: retryDelay(1) + RETRY_MARGIN_MS },
      "set aside to come back after idle_timeout",
    );
    // Anything else arriving meanwhile waits as long.
    const other = sessionEnd();
    const third = delivery(3, other);
    arrivals.push(third);
    deepStrictEqual(await third.settled, { kind: "nak", delay: retryDelay(1) + RETRY_MARGIN_MS });
    // The server redelivers each when its delay is over.
    timers.advance(retryDelay(1));
    const idleAgain = delivery(1, idle);
    arrivals.push(idleAgain);
    timers.advance(RETRY_MARGIN_MS);
    const [normalAgain, thirdAgain] = [delivery(2, normal), delivery(3, other)];
    arrivals.push(normalAgain, thirdAgain);
    arrivals.end();
    equal(await drained, 0);
    const stored = await storedReasons(deps.db);
    equal(stored.get(idle.session_id), "idle_timeout");
    equal(stored.get(other.session_id), other.reason);
    deepStrictEqual([idleAgain.kinds, normalAgain.kinds, thirdAgain.kinds], [
      ["ack"],
      ["ack"],
      ["ack"],
    ]);
    equal(events(deps, "retried"), 3);
    equal(events(deps, "stored"), 2);
    equal(events(deps, "duplicate"), 1);
  });
});

/**
 * Fault 8: the idle pair in the bad order. The poller publishes
 * `idle_timeout` then, moments later, `normal` for one session; the earliest
 * event by stream sequence decides, so the session must end as
 * `idle_timeout` even when `normal` is committed first. The bad order is
 * forced, not hoped for: a worker is frozen (SIGSTOP) with the
 * `idle_timeout` delivered to it and not committed, and
 * - two workers: the other worker commits `normal`; the frozen one then
 *   resumes and commits its `idle_timeout`;
 * - kill -9: the frozen worker is killed; a new one commits `normal`, and
 *   the `idle_timeout` comes back after the ack wait.
 * Either way a correction is appended, and the chain verifies.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { NO_KEYS } from "../../src/integrity/keyring.ts";
import { verifyTenants } from "../../src/integrity/verify.ts";
import { Database } from "../../src/store/client.ts";
import { publishAll, type Service, sessionEnd, waitFor, type World } from "../harness.ts";
import {
  consumerSettled,
  FAULT_OPTS,
  report,
  startWorldService,
  withFaultWorld,
} from "./fault_kit.ts";

const DURABLE = "api-session-audit-consumer";

async function consumer(world: World) {
  const info = await world.t.jsm.consumers.info("DEVICE_EVENTS", DURABLE);
  return {
    waiting: info.num_waiting,
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    redelivered: info.num_redelivered,
  };
}

/** The versions of a session as stored, in chain order. */
async function versions(world: World, sessionId: string) {
  const rs = await world.db.execute({
    sql: `SELECT reason, stream_seq, chain_seq, corrects, corrected_by FROM session_ends
          WHERE session_id = ? ORDER BY chain_seq`,
    args: [sessionId],
  });
  return rs.rows.map((r) => ({
    reason: r.reason,
    streamSeq: Number(r.stream_seq),
    chainSeq: Number(r.chain_seq),
    corrects: r.corrects === null ? null : Number(r.corrects),
    correctedBy: r.corrected_by === null ? null : Number(r.corrected_by),
  }));
}

/**
 * Freezes `worker` (SIGSTOP) with `payload` delivered to it and not
 * committed: the event is published while the frozen worker's pull request
 * is open at the server, so the server hands it over and counts it
 * unacknowledged. If the pull expired just before, the worker is thawed
 * for a moment and it is tried again.
 */
async function freezeHolding(world: World, worker: Service, payload: object): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    await waitFor(
      "the worker's pull request open",
      async () => (await consumer(world)).waiting > 0,
    );
    Deno.kill(worker.pid, "SIGSTOP");
    if ((await consumer(world)).waiting > 0) {
      if (attempt === 0) await publishAll(world.t.js, [{ payload }]);
      const handed = await waitFor("the event handed to the worker or left waiting", async () => {
        const c = await consumer(world);
        return c.ackPending === 1 ? "held" : c.pending === 1 && c.waiting === 0 ? "waiting" : "";
      });
      if (handed === "held") return;
    }
    Deno.kill(worker.pid, "SIGCONT");
  }
  throw new Error("the frozen worker never got the event");
}

/** Waits for the session's only version to be `normal`, committed while the idle event was held. */
async function normalCommittedFirst(world: World, sessionId: string): Promise<void> {
  const stored = await waitFor("`normal` committed", async () => {
    const rows = await versions(world, sessionId);
    return rows.length === 1 ? rows : undefined;
  }, 30_000);
  deepStrictEqual(stored.map((v) => [v.reason, v.streamSeq]), [["normal", 2]], "the bad order");
  equal((await consumer(world)).redelivered, 0, "the idle_timeout had not come back yet");
}

/** Asserts the session ended as its earliest event, by an appended correction, on a chain that verifies. */
async function endsAsIdleTimeout(world: World, sessionId: string): Promise<void> {
  const stored = await waitFor("the correction", async () => {
    const rows = await versions(world, sessionId);
    return rows.length === 2 ? rows : undefined;
  }, 60_000);
  deepStrictEqual(stored, [
    { reason: "normal", streamSeq: 2, chainSeq: 1, corrects: null, correctedBy: 2 },
    { reason: "idle_timeout", streamSeq: 1, chainSeq: 2, corrects: 1, correctedBy: null },
  ]);
  await consumerSettled(world.t);
  const db = await Database.open({ databaseUrl: `file:${world.dbPath}` });
  try {
    const verdict = await verifyTenants(db, NO_KEYS);
    equal(verdict.ok, true, JSON.stringify(verdict.first_broken));
  } finally {
    db.close();
  }
}

/** A scenario in a fresh world; its workers run with `NATS_ACK_WAIT_MS` = `ackWaitMs`. */
function scenario(
  name: string,
  ackWaitMs: number,
  body: (world: World, env: Record<string, string>) => Promise<void>,
): void {
  const env = { NATS_ACK_WAIT_MS: String(ackWaitMs), LOG_LEVEL: "warn" };
  Deno.test(name, FAULT_OPTS, () => withFaultWorld((world) => body(world, env)));
}

scenario(
  "two workers: idle_timeout in one, normal committed first in the other; the session ends as idle_timeout",
  120_000,
  async (world, env) => {
    const first = await startWorldService(world, env);
    let second: Service | undefined;
    try {
      const idle = sessionEnd({ reason: "idle_timeout", end_time: "2026-03-12T10:15:00Z" });
      const normal = { ...idle, reason: "normal", end_time: "2026-03-12T10:15:01Z" };
      await freezeHolding(world, first, idle);
      // The frozen worker's pull expires and cannot be renewed: what comes next goes elsewhere.
      await waitFor(
        "the frozen worker's pull expired",
        async () => (await consumer(world)).waiting === 0,
      );
      second = await startWorldService(world, env);
      await waitFor("the second worker pulling", async () => (await consumer(world)).waiting > 0);
      await publishAll(world.t.js, [{ payload: normal }]);
      await normalCommittedFirst(world, idle.session_id);
      Deno.kill(first.pid, "SIGCONT");
      await endsAsIdleTimeout(world, idle.session_id);
      const corrected = await Promise.all(
        [first, second].map((w) => w.metric("session_audit_events_total", 'outcome="corrected"')),
      );
      const stored = await Promise.all(
        [first, second].map((w) => w.metric("session_audit_events_total", 'outcome="stored"')),
      );
      deepStrictEqual({ corrected, stored }, { corrected: [1, 0], stored: [0, 1] });
      report("idle pair split across two workers, normal first", { corrected, stored });
    } finally {
      Deno.kill(first.pid, "SIGCONT");
      const statuses = await Promise.all([first, second].flatMap((w) => w ? [w.stop()] : []));
      for (const s of statuses) equal(s.code, 0);
    }
  },
);

scenario(
  "kill -9 holding idle_timeout; normal committed first after the restart; the session ends as idle_timeout",
  // The held event comes back after the ack wait: long enough for the restart and the `normal`
  // to come first, asserted rather than assumed.
  20_000,
  async (world, env) => {
    const killed = await startWorldService(world, env);
    const idle = sessionEnd({ reason: "idle_timeout" });
    await freezeHolding(world, killed, idle);
    const status = await killed.stop("SIGKILL");
    ok(status.signal === "SIGKILL", JSON.stringify(status));
    const restarted = await startWorldService(world, env);
    try {
      await waitFor(
        "the restarted worker pulling",
        async () => (await consumer(world)).waiting > 0,
      );
      await publishAll(world.t.js, [{ payload: { ...idle, reason: "normal" } }]);
      await normalCommittedFirst(world, idle.session_id);
      await endsAsIdleTimeout(world, idle.session_id);
      const outcomes = await Promise.all(
        ["stored", "corrected", "duplicate"].map((outcome) =>
          restarted.metric("session_audit_events_total", `outcome="${outcome}"`)
        ),
      );
      deepStrictEqual(outcomes, [1, 1, 0], "normal stored, then the idle_timeout corrected it");
      report("kill -9 between the idle pair, normal first", {
        stored_corrected_duplicate: outcomes,
      });
    } finally {
      equal((await restarted.stop()).code, 0);
    }
  },
);

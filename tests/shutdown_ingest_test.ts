/**
 * The shutdown deadline against the real process, as ingest sees it: a
 * batch whose commit is still waiting for the database at the deadline makes
 * the process exit 1 at the deadline (not when the commit would end), and
 * its events are redelivered to the next run and stored there, none lost,
 * none twice.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import {
  consumerState,
  countRows,
  holdWriteLock,
  publishAll,
  sessionEnd,
  settles,
  startService,
  startWorld,
  storedRows,
  waitFor,
  type WriteLock,
} from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const DEADLINE_SECONDS = 2;
/**
 * Far longer than the deadline: the commit blocked by the other writer is
 * still waiting when the deadline passes, and a process that waited for it
 * would live this long after SIGTERM.
 */
const BUSY_TIMEOUT_MS = 60_000;
const EVENTS = 20;

Deno.test(
  "SIGTERM while a batch waits for a locked database: exit 1 at the deadline, the batch stored by the next run",
  opts,
  async () => {
    const world = await startWorld();
    const env = {
      SHUTDOWN_DEADLINE_SECONDS: String(DEADLINE_SECONDS),
      DATABASE_BUSY_TIMEOUT_MS: String(BUSY_TIMEOUT_MS),
      NATS_ACK_WAIT_MS: "1000",
    };
    const first = await startService({
      natsUrl: world.nats.wsUrl,
      databasePath: world.dbPath,
      env,
    });
    let lock: WriteLock | undefined;
    let next: Awaited<ReturnType<typeof startService>> | undefined;
    try {
      await waitFor("the consumer bound", async () => (await first.get("/readyz")).status === 200);
      lock = await holdWriteLock(world.dbPath);
      const events = Array.from({ length: EVENTS }, () => sessionEnd());
      await publishAll(world.t.js, events.map((payload) => ({ payload })));
      // Every event delivered, none acknowledged: the batch's commit waits for the lock.
      await waitFor(
        "the batch delivered and waiting for the database",
        async () => (await consumerState(world.t)).ackPending === EVENTS,
      );

      // Half the busy timeout: a process waiting for its commit could not have exited yet.
      const status = await settles(
        "the exit after SIGTERM",
        first.stop("SIGTERM"),
        BUSY_TIMEOUT_MS / 2,
      );
      equal(status.code, 1, first.logs.slice(-20).join("\n"));
      ok(
        first.logs.some((l) => l.includes("ingest did not stop within the shutdown deadline")),
        first.logs.slice(-20).join("\n"),
      );
      equal(await countRows(world.db, "session_ends"), 0, "nothing committed while locked");

      await lock.release();
      next = await startService({ natsUrl: world.nats.wsUrl, databasePath: world.dbPath, env });
      await waitFor(
        "the batch stored by the next run",
        async () => await countRows(world.db, "session_ends") === EVENTS,
      );
      await waitFor(
        "every message acked",
        async () => (await consumerState(world.t)).ackPending === 0,
      );
      deepStrictEqual(
        [...(await storedRows(world.db)).keys()].sort(),
        events.map((e) => e.session_id).sort(),
        "each event stored once",
      );
      const clean = await settles("the next run's exit", next.stop("SIGTERM"));
      equal(clean.code, 0, next.logs.slice(-20).join("\n"));
    } finally {
      await lock?.release();
      await first.stop("SIGKILL");
      await next?.stop("SIGKILL");
      await world.close();
    }
  },
);

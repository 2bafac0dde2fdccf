/**
 * Consumer lag in /metrics: the age of the oldest unprocessed event is above
 * zero while a backlog waits and back to zero once it is drained.
 */
import { assert } from "./assert.ts";
import {
  countRows,
  holdWriteLock,
  publishAll,
  sessionEnd,
  startService,
  startWorld,
  waitFor,
  type WriteLock,
} from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "session_audit_oldest_unprocessed_age_seconds is > 0 while a backlog is pending and 0 once drained",
  opts,
  async () => {
    const world = await startWorld();
    const service = await startService({ natsUrl: world.nats.wsUrl, databasePath: world.dbPath });
    let lock: WriteLock | undefined;
    try {
      await waitFor("ready", async () => (await service.get("/readyz")).status === 200);
      // Hold the write lock so the backlog cannot be stored yet.
      lock = await holdWriteLock(world.dbPath);
      const events = Array.from({ length: 200 }, () => ({ payload: sessionEnd() }));
      await publishAll(world.t.js, events);
      const age = await waitFor(
        "a positive age",
        async () => {
          const seconds = await service.metric("session_audit_oldest_unprocessed_age_seconds");
          return seconds > 0 ? seconds : undefined;
        },
        20_000,
        250,
      );
      assert(age < 60, `the age is the backlog's, in seconds: ${age}`);
      const backlog = await service.metric("session_audit_consumer_pending") +
        await service.metric("session_audit_consumer_ack_pending");
      assert(backlog > 0, `pending or ack-pending counted: ${backlog}`);
      await lock.release();
      await waitFor(
        "the backlog stored",
        async () => await countRows(world.db, "session_ends") === events.length,
        60_000,
        200,
      );
      await waitFor(
        "the age back to 0",
        async () => await service.metric("session_audit_oldest_unprocessed_age_seconds") === 0,
        20_000,
        250,
      );
    } finally {
      await lock?.release();
      await service.stop("SIGTERM");
      await world.close();
    }
  },
);

/**
 * Consumer lag in /metrics: the age of the oldest unprocessed event is above
 * zero while a backlog waits and back to zero once it is drained.
 */
import { ok } from "node:assert/strict";
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
      const publishedFrom = Date.now();
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
      // In seconds, and the backlog's: no older than the time since it was published.
      const sincePublished = (Date.now() - publishedFrom) / 1000;
      ok(age <= sincePublished, `age ${age} s, published ${sincePublished} s ago`);
      const backlog = await service.metric("session_audit_consumer_pending") +
        await service.metric("session_audit_consumer_ack_pending");
      ok(backlog > 0, `pending or ack-pending counted: ${backlog}`);
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

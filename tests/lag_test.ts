/**
 * Consumer lag in /metrics: the age of the oldest unprocessed event is above
 * zero while a backlog waits and back to zero once it is drained; the
 * backlog is measured against the stream's limits.
 */
import { equal, ok } from "node:assert/strict";
import { stallBacklog, type StalledBacklog, startService, startWorld, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "the oldest unprocessed age and the backlog are > 0 while a backlog waits and 0 once drained",
  opts,
  async () => {
    const world = await startWorld();
    const service = await startService({ natsUrl: world.nats.wsUrl, databasePath: world.dbPath });
    let stalled: StalledBacklog | undefined;
    try {
      await waitFor("ready", async () => (await service.get("/readyz")).status === 200);
      const publishedFrom = Date.now();
      const backlog = await stallBacklog(world, 200);
      stalled = backlog;
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
      const waiting = await service.metric("session_audit_consumer_pending") +
        await service.metric("session_audit_consumer_ack_pending");
      ok(waiting > 0, `pending or ack-pending counted: ${waiting}`);
      // Nothing stored yet and the stream holds only these events: all of it is the backlog.
      await waitFor(
        "the whole stream counted as backlog",
        async () => await service.metric("session_audit_backlog_messages") === backlog.count,
        20_000,
        250,
      );
      const streamBytes = await service.metric("session_audit_stream_bytes");
      ok(streamBytes > backlog.count * 100, `stream bytes ${streamBytes}`);
      equal(await service.metric("session_audit_backlog_bytes"), streamBytes);
      equal(await service.metric("session_audit_stream_messages"), backlog.count);
      equal(await service.metric("session_audit_stream_max_bytes"), 64 * 1024 * 1024);
      equal(await service.metric("session_audit_stream_max_age_seconds"), 24 * 60 * 60);
      equal(await service.metric("session_audit_stream_max_messages"), 0, "the poller sets none");
      await backlog.drain();
      await waitFor(
        "the age and the backlog back to 0",
        async () =>
          await service.metric("session_audit_oldest_unprocessed_age_seconds") === 0 &&
          await service.metric("session_audit_backlog_messages") === 0,
        20_000,
        250,
      );
    } finally {
      await stalled?.release();
      await service.stop("SIGTERM");
      await world.close();
    }
  },
);

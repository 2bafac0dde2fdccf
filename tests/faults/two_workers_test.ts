/**
 * Fault 6 (scale-out): two service processes bound to the same durable
 * consumer and the same database file, started at once on a fresh file (so
 * they also race through the migrations). The server shares the messages out;
 * every event is stored exactly once, and both workers take part.
 */
import { equal, ok } from "node:assert/strict";
import { consumerState, countRows, publishAll } from "../harness.ts";
import {
  assertExact,
  assertIntegrity,
  consumerSettled,
  FAULT_OPTS,
  report,
  rowsReach,
  startWorldService,
  tally,
  validEvents,
  withFaultWorld,
} from "./fault_kit.ts";

const BACKLOG = 30_000;

Deno.test(
  "two workers on one durable consumer and one database file store every event exactly once",
  FAULT_OPTS,
  () =>
    withFaultWorld(async (world) => {
      const events = validEvents(BACKLOG);
      await publishAll(world.t.js, events);
      const env = { LOG_LEVEL: "warn" };
      const started = performance.now();
      const workers = await Promise.all([
        startWorldService(world, env),
        startWorldService(world, env),
      ]);
      try {
        await rowsReach(world.db, BACKLOG);
        const seconds = (performance.now() - started) / 1000;
        await consumerSettled(world.t);
        const { delivered } = await consumerState(world.t);
        const storedBy = await Promise.all(
          workers.map((w) => w.metric("session_audit_events_total", 'outcome="stored"')),
        );
        const duplicatesBy = await Promise.all(
          workers.map((w) => w.metric("session_audit_events_total", 'outcome="duplicate"')),
        );
        await assertIntegrity(world.db);
        const result = await tally(world.db, events.map((e) => e.payload.session_id));
        report("two workers, one consumer, one database file", {
          ...result,
          stored_by_worker: storedBy,
          duplicates_by_worker: duplicatesBy,
          seconds: Math.round(seconds * 10) / 10,
          combined_events_per_second: Math.round(BACKLOG / seconds),
          deliveries: delivered,
        });
        assertExact(result, "two workers");
        // No message had to wait for the ack wait to be redelivered: none was held unprocessed
        // by a worker (a batch left waiting for a message its iterator only claimed to have did).
        equal(delivered, BACKLOG, "each event delivered once");
        equal(storedBy[0] + storedBy[1], BACKLOG, "each event inserted by one worker");
        ok(storedBy.every((n) => n > 0), `both workers stored: ${storedBy}`);
        equal(await countRows(world.db, "dead_letters"), 0);
      } finally {
        const statuses = await Promise.all(workers.map((w) => w.stop("SIGTERM")));
        for (const [i, s] of statuses.entries()) {
          equal(s.code, 0, workers[i].logs.join("\n"));
        }
      }
    }),
);

/**
 * Fault 4: an operator deletes the durable consumer while the service drains
 * a backlog and the poller keeps publishing. The service notices, creates the
 * consumer again (which delivers the whole stream again: deliver all), and
 * the `session_id` key turns the replay into duplicates, never second rows.
 */
import { equal, ok } from "node:assert/strict";
import { countRows, publishAll, waitFor } from "../harness.ts";
import {
  assertExact,
  consumerSettled,
  FAULT_OPTS,
  report,
  rowsReach,
  startWorldService,
  tally,
  validEvents,
  withFaultWorld,
} from "./fault_kit.ts";

const DURABLE = "api-session-audit-consumer";

Deno.test(
  "the durable consumer deleted under load is created again: 0 lost, 0 duplicated",
  FAULT_OPTS,
  () =>
    withFaultWorld(async (world) => {
      const backlog = validEvents(20_000);
      const live = validEvents(5_000);
      await publishAll(world.t.js, backlog);
      const service = await startWorldService(world, {
        NATS_ACK_WAIT_MS: "5000",
        LOG_LEVEL: "warn",
      });
      try {
        await waitFor(
          "ingest under way",
          async () => await countRows(world.db, "session_ends") > 3_000,
          60_000,
          5,
        );
        const rowsAtDelete = await countRows(world.db, "session_ends");
        // The poller publishes on while the operator deletes the consumer.
        const publishing = publishAll(world.t.js, live, 100);
        const deletedAt = performance.now();
        ok(await world.t.jsm.consumers.delete("DEVICE_EVENTS", DURABLE), "deleted");
        await publishing;
        await waitFor(
          "the consumer to exist again",
          async () => await world.t.jsm.consumers.info("DEVICE_EVENTS", DURABLE),
          60_000,
          100,
        );
        const rebindSeconds = (performance.now() - deletedAt) / 1000;
        // The service noticed the deletion itself (it says so) and created the consumer again.
        const lost = service.logs.filter((l) => l.includes('"msg":"consumer lost; binding again"'));
        ok(lost.length > 0, `no "consumer lost" line:\n${service.logs.slice(-10).join("\n")}`);
        ok(
          /"notification":"(consumer_deleted|consumer_not_found|stream_not_found)"/.test(lost[0]),
          lost[0],
        );
        await rowsReach(world.db, backlog.length + live.length);
        await consumerSettled(world.t);
        const duplicates = await service.metric(
          "session_audit_events_total",
          'outcome="duplicate"',
        );
        const result = await tally(
          world.db,
          [...backlog, ...live].map((e) => e.payload.session_id),
        );
        report("durable consumer deleted under load", {
          ...result,
          rows_at_delete: rowsAtDelete,
          rebound_after_seconds: Math.round(rebindSeconds * 10) / 10, // a figure, not a check
          duplicates_absorbed: duplicates,
        });
        assertExact(result, "after the consumer was deleted");
        equal(await countRows(world.db, "dead_letters"), 0);
      } finally {
        await service.stop("SIGTERM");
      }
    }),
);

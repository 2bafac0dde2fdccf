/**
 * Fault 2: nats-server stopped and started again (same store directory)
 * while the service drains a backlog. The service reconnects by itself;
 * `/readyz` answers 503 naming NATS while it is down and 200 once it is back.
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

Deno.test(
  "nats-server restarted mid-ingest: reconnects, /readyz 503 then 200, 0 lost, 0 duplicated",
  FAULT_OPTS,
  () =>
    withFaultWorld(async (world) => {
      const before = validEvents(20_000);
      const after = validEvents(5_000);
      await publishAll(world.t.js, before);
      const service = await startWorldService(world, {
        NATS_ACK_WAIT_MS: "5000",
        LOG_LEVEL: "warn",
      });
      let downFor = 0;
      try {
        await waitFor("ready", async () => (await service.get("/readyz")).status === 200);
        await waitFor(
          "ingest under way",
          async () => await countRows(world.db, "session_ends") > 2_000,
          60_000,
          5,
        );
        const rowsAtStop = await countRows(world.db, "session_ends");
        const downAt = performance.now();
        await world.nats.stop();
        const notReady = await waitFor("/readyz 503 naming NATS", async () => {
          const r = await service.get("/readyz");
          return r.status === 503 ? r : undefined;
        }, 20_000);
        const reasons = (notReady.body as { reasons: Record<string, string> }).reasons;
        ok("nats" in reasons, `reasons name NATS: ${JSON.stringify(reasons)}`);
        await new Promise((r) => setTimeout(r, 2_000));
        await world.nats.restart();
        await waitFor(
          "/readyz 200 again",
          async () => (await service.get("/readyz")).status === 200,
          60_000,
          100,
        );
        downFor = performance.now() - downAt;
        // The poller keeps publishing once the server is back.
        await publishAll(world.t.js, after);
        await rowsReach(world.db, before.length + after.length);
        await consumerSettled(world.t);
        const reconnects = await service.metric("session_audit_nats_reconnects_total");
        ok(reconnects >= 1, `counted a reconnect: ${reconnects}`);
        const result = await tally(
          world.db,
          [...before, ...after].map((e) => e.payload.session_id),
        );
        report("nats-server restarted mid-ingest", {
          ...result,
          rows_at_stop: rowsAtStop,
          not_ready_reason: reasons.nats,
          unavailable_seconds: Math.round(downFor / 100) / 10,
          reconnects,
        });
        assertExact(result, "after the NATS restart");
        equal(await countRows(world.db, "dead_letters"), 0);
      } finally {
        await service.stop("SIGTERM");
      }
    }),
);

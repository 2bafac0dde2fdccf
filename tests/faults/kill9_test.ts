/**
 * Fault 1: the service killed with SIGKILL at random moments while it drains
 * a backlog of 50,000 events, five times in a row, restarted each time.
 * Nothing acked is lost (commit before ack, WAL with synchronous=FULL);
 * what was in flight comes back after the ack wait, shortened here to 3 s
 * through `NATS_ACK_WAIT_MS`, and the `session_id` key absorbs it.
 */
import { ok } from "node:assert/strict";
import { countRows, publishAll, waitFor } from "../harness.ts";
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

const BACKLOG = 50_000;
const KILLS = 5;

Deno.test(
  "SIGKILL five times while draining 50,000 events: 0 lost, 0 duplicated",
  FAULT_OPTS,
  () =>
    withFaultWorld(async (world) => {
      const events = validEvents(BACKLOG);
      const publishStart = performance.now();
      await publishAll(world.t.js, events);
      const publishMs = performance.now() - publishStart;
      const env = { NATS_ACK_WAIT_MS: "3000", LOG_LEVEL: "warn" };
      const kills: Array<{ afterMs: number; rowsAtKill: number }> = [];
      const started = performance.now();
      for (let i = 0; i < KILLS; i++) {
        const before = await countRows(world.db, "session_ends");
        const service = await startWorldService(world, env);
        // Kill while it is writing: after its first commit, at a random moment.
        await waitFor(
          "the restarted service to commit",
          async () => await countRows(world.db, "session_ends") > before,
          60_000,
          10,
        );
        const afterMs = Math.round(50 + Math.random() * 700);
        await new Promise((r) => setTimeout(r, afterMs));
        const status = await service.stop("SIGKILL");
        ok(status.signal === "SIGKILL", `killed, not exited: ${JSON.stringify(status)}`);
        const rowsAtKill = await countRows(world.db, "session_ends");
        kills.push({ afterMs, rowsAtKill });
        ok(rowsAtKill < BACKLOG, `kill ${i + 1} came after the backlog was drained`);
      }
      let absorbed = 0;
      const last = await startWorldService(world, env);
      try {
        await rowsReach(world.db, BACKLOG);
        await consumerSettled(world.t);
        // In flight at a kill (stored, not yet acked): delivered again, absorbed by the key.
        absorbed = await last.metric("session_audit_events_total", 'outcome="duplicate"');
      } finally {
        await last.stop("SIGTERM");
      }
      const seconds = (performance.now() - started) / 1000;
      await assertIntegrity(world.db);
      const result = await tally(world.db, events.map((e) => e.payload.session_id));
      report("kill-9 x5 during a 50k backlog", {
        ...result,
        kills,
        duplicates_absorbed_by_last_run: absorbed,
        publish_seconds: Math.round(publishMs / 100) / 10,
        drain_seconds: Math.round(seconds * 10) / 10,
      });
      assertExact(result, "after five SIGKILLs");
    }),
);

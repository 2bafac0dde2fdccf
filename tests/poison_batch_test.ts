/**
 * A poison batch never halts ingest: a real database-level failure (a
 * trigger that RAISEs for one session_id) makes the database refuse one
 * message of a backlog, deterministically. The rest of the batch is stored,
 * the offender quarantined with the database's error, nothing is left
 * unacknowledged, and /readyz stays ready.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { migrate } from "../src/store/migrations.ts";
import {
  consumerState,
  publishAll,
  sessionEnd,
  startService,
  storedOrQuarantined,
  storedRows,
  waitFor,
  withWorld,
} from "./harness.ts";
import { Database } from "../src/store/client.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "one message the database refuses is quarantined with its error; the rest of its batch is stored",
  opts,
  async () => {
    await withWorld(async (world) => {
      // The database exists, migrated, with a trigger refusing one session: an operator's
      // constraint, a corrupted index, any refusal that is the row's and not the database's.
      await Deno.mkdir(`${world.dir}/data`, { recursive: true });
      const setup = await Database.open({ databaseUrl: `file:${world.dbPath}` });
      await migrate(setup.client);
      const events = Array.from({ length: 300 }, () => sessionEnd());
      const poison = events[137];
      await setup.execute(`CREATE TRIGGER poison BEFORE INSERT ON session_ends
        WHEN NEW.session_id = '${poison.session_id}'
        BEGIN SELECT RAISE(ABORT, 'poison: this session is refused'); END`);
      setup.close();
      // A backlog, so that the offender arrives in one batch with the others.
      await publishAll(world.t.js, events.map((payload) => ({ payload })));
      const service = await startService({ natsUrl: world.nats.wsUrl, databasePath: world.dbPath });
      try {
        await waitFor(
          "every message stored or quarantined",
          async () => await storedOrQuarantined(world.db) === events.length,
        );
        await waitFor("nothing pending or unacked", async () => {
          const s = await consumerState(world.t);
          return s.pending === 0 && s.ackPending === 0;
        });
        const rows = await storedRows(world.db);
        equal(rows.size, events.length - 1, "every other message stored");
        ok(!rows.has(poison.session_id));
        const letters = await world.db.execute("SELECT subject, payload, error FROM dead_letters");
        equal(letters.rows.length, 1);
        equal(letters.rows[0].subject, `audit.session.end.${poison.session_id}`);
        deepStrictEqual(
          JSON.parse(
            new TextDecoder().decode(new Uint8Array(letters.rows[0].payload as ArrayBuffer)),
          ),
          poison,
          "kept verbatim",
        );
        match(
          String(letters.rows[0].error),
          /^the database refused this event: SQLITE_CONSTRAINT_TRIGGER: poison: this session is refused$/,
        );
        equal((await consumerState(world.t)).redelivered, 0, "terminated, never redelivered");
        equal(await service.metric("session_audit_quarantined_total", 'class="database"'), 1);
        equal(
          await service.metric("session_audit_events_total", 'outcome="stored"'),
          events.length - 1,
        );
        equal((await service.get("/readyz")).status, 200, "the database was never called down");
        ok(
          service.logs.some((l) =>
            l.includes("batch refused by the database") &&
            l.includes('"error_kind":"deterministic"')
          ),
          "the log says what failed and of which kind",
        );
        // And ingest goes on.
        const later = sessionEnd();
        await publishAll(world.t.js, [{ payload: later }]);
        await waitFor(
          "a later event stored",
          async () => (await storedRows(world.db)).has(later.session_id),
        );
      } finally {
        await service.stop();
      }
    });
  },
);

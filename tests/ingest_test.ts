/**
 * Ingest behaviour against a real nats-server (WebSocket + JetStream) and a
 * real libSQL file, with the service running as its own process.
 */
import { AckPolicy } from "@nats-io/jetstream";
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  consumerState,
  countRows,
  createStream,
  holdWriteLock,
  publishAll,
  type Service,
  sessionEnd,
  startService,
  storedRows,
  waitFor,
  withWorld,
  type World,
} from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function withService(
  world: World,
  body: (service: Service) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const service = await startService({
    natsUrl: world.nats.wsUrl,
    databasePath: world.dbPath,
    env,
  });
  try {
    await body(service);
  } finally {
    await service.stop("SIGTERM");
  }
}

async function settled(world: World): Promise<void> {
  await waitFor("the consumer to have nothing pending or unacked", async () => {
    const s = await consumerState(world.t);
    return s.pending === 0 && s.ackPending === 0;
  });
}

Deno.test("a valid event becomes one row with the right fields and duration", opts, async () => {
  await withWorld(async (world) => {
    await withService(world, async () => {
      const event = sessionEnd({
        session_id: "6F9619FF-8B86-4011-B42D-00C04FC964FF",
        start_time: "2026-03-12T10:00:00Z",
        end_time: "2026-03-12T12:15:30+02:00",
        reason: "shutdown",
        source_ip: "2001:DB8::7",
      });
      await publishAll(world.t.js, [{ payload: event }]);
      await waitFor("one row", async () => await countRows(world.db, "session_ends") === 1);
      const row = (await storedRows(world.db)).get("6f9619ff-8b86-4011-b42d-00c04fc964ff");
      ok(row, "the row is stored under the lower-cased session_id");
      equal(row.tenant_id, event.tenant_id);
      equal(row.device_id, event.device_id);
      equal(row.user_id, event.user_id);
      equal(row.start_time, Date.parse("2026-03-12T10:00:00Z"));
      equal(row.end_time, Date.parse("2026-03-12T10:15:30Z"));
      equal(row.duration_seconds, 930);
      equal(row.source_ip, "2001:db8::7");
      equal(row.reason, "shutdown");
      await settled(world);
    });
  });
});

Deno.test(
  "a redelivered or re-published event stays one row; the idle pair keeps idle_timeout",
  opts,
  async () => {
    await withWorld(async (world) => {
      await withService(world, async (service) => {
        const single = sessionEnd();
        const idle = sessionEnd({ reason: "idle_timeout", end_time: "2026-03-12T10:20:00Z" });
        await publishAll(world.t.js, [{ payload: single }, { payload: idle }], 1);
        await publishAll(
          world.t.js,
          [{ payload: single }, {
            payload: { ...idle, reason: "normal", end_time: "2026-03-12T10:20:01Z" },
          }],
          1,
        );
        await waitFor(
          "four messages processed",
          async () =>
            await service.metric("session_audit_events_total", 'outcome="stored"') +
                await service.metric("session_audit_events_total", 'outcome="duplicate"') === 4,
        );
        const rows = await storedRows(world.db);
        equal(rows.size, 2);
        equal(rows.get(idle.session_id)?.reason, "idle_timeout");
        equal(rows.get(idle.session_id)?.end_time, Date.parse("2026-03-12T10:20:00Z"));
        equal(await service.metric("session_audit_events_total", 'outcome="duplicate"'), 2);
        await settled(world);
      });
    });
  },
);

Deno.test(
  "each malformed category is quarantined verbatim, terminated and never redelivered",
  opts,
  async () => {
    await withWorld(async (world) => {
      await withService(world, async (service) => {
        const valid = sessionEnd();
        const cases: Array<{ name: string; payload: string; reason: RegExp; class: string }> = [
          { name: "not JSON", payload: "{not json", reason: /not JSON/, class: "not_json" },
          {
            name: "not an object",
            payload: "[1,2,3]",
            reason: /not a JSON object/,
            class: "not_object",
          },
          {
            name: "over 64 KiB",
            payload: JSON.stringify({ ...valid, pad: "x".repeat(70_000) }),
            reason: /64|limit/,
            class: "too_large",
          },
          {
            name: "missing tenant_id",
            payload: JSON.stringify({ ...valid, tenant_id: undefined }),
            reason: /tenant_id/,
            class: "identity",
          },
          {
            name: "bad device_id",
            payload: JSON.stringify({ ...valid, device_id: "router-7" }),
            reason: /device_id/,
            class: "identity",
          },
          {
            name: "bad session_id",
            payload: JSON.stringify({ ...valid, session_id: 42 }),
            reason: /session_id/,
            class: "identity",
          },
        ];
        await publishAll(
          world.t.js,
          cases.map((c, i) => ({ subject: `audit.session.end.bad-${i}`, payload: c.payload })),
          1,
        );
        await waitFor(
          "all quarantined",
          async () => await countRows(world.db, "dead_letters") === cases.length,
        );
        const rs = await world.db.execute("SELECT * FROM dead_letters ORDER BY stream_seq");
        for (const [i, c] of cases.entries()) {
          const row = rs.rows[i];
          equal(row.subject, `audit.session.end.bad-${i}`, c.name);
          equal(Number(row.stream_seq), i + 1, c.name);
          equal(
            new TextDecoder().decode(new Uint8Array(row.payload as ArrayBuffer)),
            c.payload,
            `${c.name}: payload kept verbatim`,
          );
          match(String(row.error), c.reason, `${c.name}: reason`);
        }
        equal(await countRows(world.db, "session_ends"), 0);
        await settled(world);
        // Terminated, not nak'd: nothing comes back after the ack wait.
        const state = await consumerState(world.t);
        equal(state.redelivered, 0);
        equal(state.delivered, cases.length);
        equal(
          await service.metric("session_audit_events_total", 'outcome="quarantined"'),
          cases.length,
        );
        for (const cls of ["not_json", "not_object", "too_large", "identity"]) {
          equal(
            await service.metric("session_audit_quarantined_total", `class="${cls}"`),
            cases.filter((c) => c.class === cls).length,
            cls,
          );
        }
      });
    });
  },
);

Deno.test(
  "an event with a valid identity is always a row: unusable fields are kept as anomalies",
  opts,
  () =>
    withWorld((world) =>
      withService(world, async (service) => {
        const cases: Array<{ changes: Record<string, unknown>; stored: Record<string, unknown> }> =
          [
            {
              changes: { source_ip: "198.51.100.23:53122" },
              stored: { source_ip: "198.51.100.23", source_port: 53122, anomalies: null },
            },
            {
              changes: { source_ip: "[2001:DB8::7]:443" },
              stored: { source_ip: "2001:db8::7", source_port: 443, anomalies: null },
            },
            {
              changes: { source_ip: "unknown" },
              stored: {
                source_ip: null,
                anomalies: [{ field: "source_ip", value: "unknown", problem: "not an IP address" }],
              },
            },
            {
              changes: { user_id: "bob", reason: "déconnecté" },
              stored: {
                user_id: null,
                reason: "déconnecté",
                anomalies: [{ field: "user_id", value: "bob", problem: "not a UUID" }],
              },
            },
            {
              changes: { start_time: "2026-02-30T00:00:00Z" },
              stored: {
                start_time: null,
                duration_seconds: null,
                anomalies: [
                  {
                    field: "start_time",
                    value: "2026-02-30T00:00:00Z",
                    problem: "not an RFC 3339 time",
                  },
                ],
              },
            },
            {
              changes: { reason: { x: 1 } },
              stored: {
                reason: null,
                anomalies: [{
                  field: "reason",
                  value: '{"x":1}',
                  problem: "not a string (object)",
                }],
              },
            },
            {
              changes: { reason: "idle\ntimeout" },
              stored: {
                reason: null,
                anomalies: [
                  {
                    field: "reason",
                    value: "idle\ntimeout",
                    problem: "contains a control character",
                  },
                ],
              },
            },
            {
              // A relay clock far ahead: kept, and flagged (CLOCK_SKEW_SECONDS=60 below).
              changes: { start_time: "2099-01-01T00:00:00Z", end_time: "2099-01-01T00:15:00Z" },
              stored: {
                end_time: Date.parse("2099-01-01T00:15:00Z"),
                duration_seconds: 900,
                anomalies: [{
                  field: "end_time",
                  value: "2099-01-01T00:15:00Z",
                  problem: "in the future: more than 60 s after the stream received the event",
                }],
              },
            },
          ];
        const events = cases.map((c) => ({ ...sessionEnd(), ...c.changes }));
        await publishAll(world.t.js, events.map((payload) => ({ payload })), 1);
        await waitFor(
          "every event a row",
          async () => await countRows(world.db, "session_ends") === cases.length,
        );
        await settled(world);
        equal(await countRows(world.db, "dead_letters"), 0, "nothing quarantined");
        const rows = await storedRows(world.db);
        for (const [i, c] of cases.entries()) {
          const row = rows.get(events[i].session_id);
          ok(row, JSON.stringify(c.changes));
          const { anomalies, ...columns } = c.stored;
          for (const [column, value] of Object.entries(columns)) {
            deepStrictEqual(row[column], value, `${JSON.stringify(c.changes)}: ${column}`);
          }
          deepStrictEqual(
            row.anomalies === null ? null : JSON.parse(String(row.anomalies)),
            anomalies ?? null,
            JSON.stringify(c.changes),
          );
        }
        equal(await service.metric("session_audit_events_total", 'outcome="stored"'), cases.length);
        equal(await service.metric("session_audit_events_total", 'outcome="quarantined"'), 0);
        equal(await service.metric("session_audit_anomalies_total", 'field="reason"'), 2);
        equal(await service.metric("session_audit_anomalies_total", 'field="source_ip"'), 1);
        equal(await service.metric("session_audit_anomalies_total", 'field="end_time"'), 1);
      }, { CLOCK_SKEW_SECONDS: "60" })
    ),
);

Deno.test("other subjects of the stream are never consumed", opts, async () => {
  await withWorld(async (world) => {
    await withService(world, async () => {
      const ev = sessionEnd();
      await publishAll(world.t.js, [
        { subject: "device.status.abc", payload: "{}" },
        { subject: "config.changed.abc", payload: "not json" },
        { payload: ev },
        { subject: "device.metrics.abc", payload: "{}" },
      ], 1);
      await waitFor("the session end", async () => await countRows(world.db, "session_ends") === 1);
      await settled(world);
      equal(await countRows(world.db, "dead_letters"), 0);
      equal((await consumerState(world.t)).delivered, 1);
      const info = await world.t.jsm.consumers.info("DEVICE_EVENTS", "api-session-audit-consumer");
      equal(info.config.filter_subject, "audit.session.end.>");
      equal(info.config.ack_policy, "explicit");
      equal(info.config.deliver_policy, "all");
    });
  });
});

Deno.test("a backlog published before start is fully ingested", opts, async () => {
  await withWorld(async (world) => {
    const events = Array.from({ length: 3000 }, () => ({ payload: sessionEnd() }));
    await publishAll(world.t.js, events);
    await withService(world, async () => {
      await waitFor(
        "3000 rows",
        async () => await countRows(world.db, "session_ends") === 3000,
        60_000,
        200,
      );
      await settled(world);
      const rows = await storedRows(world.db);
      for (const { payload } of events) ok(rows.has(payload.session_id), payload.session_id);
    });
  });
});

Deno.test(
  "a stream created after start is picked up; readiness says why meanwhile",
  opts,
  async () => {
    await withWorld(async (world) => {
      await withService(world, async (service) => {
        const notReady = await waitFor("a 503 naming the stream", async () => {
          const r = await service.get("/readyz");
          return r.status === 503 && JSON.stringify(r.body).includes("DEVICE_EVENTS")
            ? r
            : undefined;
        });
        equal(notReady.status, 503);
        // It keeps waiting for the stream: a third attempt to bind is logged before it exists.
        await waitFor(
          "a third attempt to bind",
          () =>
            service.logs.some((l) =>
              l.includes('"consumer not bound; retrying"') &&
              l.includes('"attempt":3')
            ),
        );
        await createStream(world.t);
        const ev = sessionEnd();
        await publishAll(world.t.js, [{ payload: ev }]);
        await waitFor(
          "the row",
          async () => await countRows(world.db, "session_ends") === 1,
          30_000,
        );
        await waitFor("ready", async () => (await service.get("/readyz")).status === 200);
      }, { LOG_LEVEL: "debug" });
    }, { stream: false });
  },
);

Deno.test(
  "SIGTERM exits 0 with nothing lost, and a restart continues where it stopped",
  opts,
  async () => {
    await withWorld(async (world) => {
      const events = Array.from({ length: 4000 }, () => ({ payload: sessionEnd() }));
      await publishAll(world.t.js, events);
      const first = await startService({ natsUrl: world.nats.wsUrl, databasePath: world.dbPath });
      await waitFor(
        "some rows",
        async () => await countRows(world.db, "session_ends") > 0,
        30_000,
        5,
      );
      const status = await first.stop("SIGTERM");
      equal(status.code, 0, first.logs.join("\n"));
      ok(first.logs.some((l) => l.includes('"stopped"')), "logs its orderly stop");
      const afterFirst = await countRows(world.db, "session_ends");
      await withService(world, async (service) => {
        await waitFor(
          "all rows",
          async () => await countRows(world.db, "session_ends") === 4000,
          60_000,
          100,
        );
        await settled(world);
        const rows = await storedRows(world.db);
        equal(rows.size, 4000);
        for (const { payload } of events) ok(rows.has(payload.session_id));
        // Only what the first run had not acked was delivered again.
        const stored = await service.metric("session_audit_events_total", 'outcome="stored"');
        equal(stored, 4000 - afterFirst);
      });
    });
  },
);

Deno.test("an operator deleting the consumer does not stop ingestion", opts, async () => {
  await withWorld(async (world) => {
    await withService(world, async () => {
      await publishAll(world.t.js, [{ payload: sessionEnd() }]);
      await waitFor("first row", async () => await countRows(world.db, "session_ends") === 1);
      await world.t.jsm.consumers.delete("DEVICE_EVENTS", "api-session-audit-consumer");
      await publishAll(world.t.js, [{ payload: sessionEnd() }, { payload: sessionEnd() }]);
      await waitFor(
        "rows after re-binding",
        async () => await countRows(world.db, "session_ends") === 3,
        45_000,
        200,
      );
      await settled(world);
    });
  });
});

Deno.test(
  "a drifted consumer is updated, and a changed filter recreates it without duplicates",
  opts,
  async () => {
    await withWorld(async (world) => {
      await world.t.jsm.consumers.add("DEVICE_EVENTS", {
        durable_name: "api-session-audit-consumer",
        ack_policy: AckPolicy.Explicit,
        filter_subject: "device.status.>",
        max_ack_pending: 5,
      });
      const events = Array.from({ length: 50 }, () => ({ payload: sessionEnd() }));
      await publishAll(world.t.js, events);
      await withService(world, async () => {
        await waitFor(
          "50 rows",
          async () => await countRows(world.db, "session_ends") === 50,
          30_000,
        );
        const info = await world.t.jsm.consumers.info(
          "DEVICE_EVENTS",
          "api-session-audit-consumer",
        );
        equal(info.config.filter_subject, "audit.session.end.>");
        ok((info.config.max_ack_pending ?? 0) > 5, "max_ack_pending updated");
        await settled(world);
      });
    });
  },
);

Deno.test(
  "a database held locked is retried, nothing quarantined, and all ends stored",
  opts,
  async () => {
    await withWorld(async (world) => {
      await withService(world, async (service) => {
        await publishAll(world.t.js, [{ payload: sessionEnd() }]);
        await waitFor("first row", async () => await countRows(world.db, "session_ends") === 1);
        // Another writer holds the write lock past the service's busy timeout.
        const lock = await holdWriteLock(world.dbPath);
        const events = Array.from({ length: 20 }, () => ({ payload: sessionEnd() }));
        await publishAll(world.t.js, events);
        await waitFor(
          "a retry",
          async () => await service.metric("session_audit_events_total", 'outcome="retried"') > 0,
          20_000,
          100,
        );
        const ready = await service.get("/readyz");
        equal(ready.status, 503);
        ok(JSON.stringify(ready.body).includes("database"), JSON.stringify(ready.body));
        await lock.release();
        await waitFor(
          "all rows",
          async () => await countRows(world.db, "session_ends") === 21,
          60_000,
          200,
        );
        await settled(world);
        equal(await countRows(world.db, "dead_letters"), 0);
        await waitFor("ready again", async () => (await service.get("/readyz")).status === 200);
      });
    });
  },
);

Deno.test(
  "of an idle pair split by a database failure, idle_timeout still wins",
  opts,
  async () => {
    await withWorld(async (world) => {
      await withService(world, async (service) => {
        await publishAll(world.t.js, [{ payload: sessionEnd() }]);
        await waitFor("first row", async () => await countRows(world.db, "session_ends") === 1);
        const lock = await holdWriteLock(world.dbPath);
        const idle = sessionEnd({ reason: "idle_timeout" });
        await publishAll(world.t.js, [{ payload: idle }]);
        await waitFor(
          "the idle_timeout batch to fail",
          async () => await service.metric("session_audit_events_total", 'outcome="retried"') > 0,
          20_000,
          20,
        );
        // The database is back at once, and the producer's `normal` follows moments later.
        await lock.release();
        await publishAll(world.t.js, [{ payload: { ...idle, reason: "normal" } }]);
        await waitFor(
          "both settled",
          async () => {
            const s = await consumerState(world.t);
            return s.pending === 0 && s.ackPending === 0 &&
              await countRows(world.db, "session_ends") === 2;
          },
          30_000,
          100,
        );
        equal((await storedRows(world.db)).get(idle.session_id)?.reason, "idle_timeout");
      });
    });
  },
);

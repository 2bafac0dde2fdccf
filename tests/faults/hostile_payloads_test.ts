/**
 * Fault 7: 10,000 hostile payloads on `audit.session.end.>` — random bytes,
 * truncated JSON, deep nesting, huge strings, wrong types, odd Unicode,
 * `__proto__`/`constructor` keys, numbers where strings belong. The service
 * neither crashes nor hangs: each message is stored or quarantined
 * (rows + dead letters == published) and nothing is left unacknowledged.
 */
import { equal, ok } from "node:assert/strict";
import { countRows, publishAll, startWorld, waitFor } from "../harness.ts";
import { createRandom, DEVICE_EVENTS_STREAM, type Random } from "../../scripts/simulator.ts";
import { consumerSettled, FAULT_OPTS, report, startWorldService } from "./fault_kit.ts";

const COUNT = 10_000;
const SEED = "hostile-payloads-1";

const encoder = new TextEncoder();

function validFields(rng: Random): Record<string, unknown> {
  return {
    session_id: crypto.randomUUID(),
    tenant_id: rng.uuid(),
    device_id: rng.uuid(),
    user_id: rng.uuid(),
    start_time: "2026-03-12T10:00:00Z",
    end_time: "2026-03-12T10:15:00+01:00",
    source_ip: "203.0.113.7",
    reason: "normal",
  };
}

const ODD_TEXT = [
  "\u0000",
  "\uFEFFnormal",
  "\u202Eemit\u202C",
  "ze\u200Bro",
  "😀".repeat(16),
  "e\u0301",
  "\uD800", // a lone surrogate
  "\uDFFF\uD800",
  "Ｎｏｒｍａｌ",
  "\n\r\t\b\f",
  "'; DROP TABLE session_ends; --",
  "%s%n%x",
  "${jndi:ldap://x}",
  "\\u0000",
];
const WRONG_VALUES: unknown[] = [
  0,
  -1,
  1e308,
  -0,
  12345678901234567890,
  true,
  false,
  null,
  [],
  {},
  [crypto.randomUUID()],
  { $gt: "" },
  "",
  " ",
];
const FIELDS = [
  "session_id",
  "tenant_id",
  "device_id",
  "user_id",
  "start_time",
  "end_time",
  "source_ip",
  "reason",
];

type Hostile = { kind: string; payload: Uint8Array };

/** One hostile payload of a random kind. Deterministic for a seed, except session ids. */
function hostile(rng: Random): Hostile {
  const kinds = [
    "random_bytes",
    "truncated_json",
    "deep_nesting",
    "huge_string",
    "wrong_type",
    "odd_unicode",
    "proto_keys",
    "number_for_string",
    "not_an_object",
    "invalid_utf8",
    "duplicate_keys",
    "valid_with_junk",
  ] as const;
  const kind = rng.pick(kinds);
  const text = (s: string) => ({ kind, payload: encoder.encode(s) });
  const valid = validFields(rng);
  switch (kind) {
    case "random_bytes": {
      const bytes = new Uint8Array(rng.int(2_048));
      for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
      return { kind, payload: bytes };
    }
    case "truncated_json": {
      const full = JSON.stringify(valid);
      return text(full.slice(0, rng.int(full.length - 1)));
    }
    case "deep_nesting": {
      const depth = 1 + rng.int(20_000);
      const open = rng.chance(0.5) ? "[" : '{"a":';
      const close = open === "[" ? "]" : "}";
      const nested = open.repeat(depth) + "1" + close.repeat(depth);
      // Either a deep object on its own, or deep junk inside an otherwise valid event.
      return rng.chance(0.5)
        ? text(nested)
        : text(JSON.stringify(valid).slice(0, -1) + `,"extra":${nested}}`);
    }
    case "huge_string": {
      const field = rng.pick(FIELDS);
      // Mostly around the 64 KiB limit; now and then near NATS's 1 MB payload limit.
      const size = rng.chance(0.05) ? 900_000 : rng.pick([1_000, 60_000, 65_600, 70_000, 200_000]);
      return text(JSON.stringify({ ...valid, [field]: "x".repeat(size) }));
    }
    case "wrong_type": {
      const field = rng.pick(FIELDS);
      return text(JSON.stringify({ ...valid, [field]: rng.pick(WRONG_VALUES) }));
    }
    case "odd_unicode": {
      const field = rng.pick(FIELDS);
      const odd = rng.pick(ODD_TEXT);
      const value = rng.chance(0.5) ? odd : `${String(valid[field])}${odd}`;
      return text(JSON.stringify({ ...valid, [field]: value }));
    }
    case "proto_keys": {
      const key = rng.pick(["__proto__", "constructor", "prototype"]);
      const inner = { tenant_id: rng.uuid(), isAdmin: true, polluted: "yes" };
      // JSON.stringify drops a __proto__ key set by assignment, so write it by hand.
      const body = JSON.stringify(valid).slice(1, -1);
      return rng.chance(0.5)
        ? text(`{"${key}":${JSON.stringify(inner)},${body}}`)
        : text(`{"${key}":${JSON.stringify({ ...valid })}}`);
    }
    case "number_for_string": {
      const field = rng.pick(FIELDS);
      const raw = rng.pick(["1e999", "-0", "0x10", "123456789012345678901234567890", "1.5e-400"]);
      const body = JSON.stringify({ ...valid, [field]: "@@" }).replace('"@@"', raw);
      return text(body);
    }
    case "not_an_object":
      return text(rng.pick(["null", "true", "0", '"text"', "[]", "[{}]", "", " ", "{}", "NaN"]));
    case "invalid_utf8": {
      const prefix = encoder.encode(JSON.stringify(valid).slice(0, -1) + ',"reason2":"');
      const bad = rng.pick([[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xff], [0xf8, 0x88, 0x80, 0x80]]);
      return { kind, payload: new Uint8Array([...prefix, ...bad, ...encoder.encode('"}')]) };
    }
    case "duplicate_keys":
      return text(JSON.stringify(valid).slice(0, -1) + `,"session_id":${rng.int(10)}}`);
    case "valid_with_junk":
      return text(JSON.stringify({
        ...valid,
        session_id: rng.chance(0.5) ? String(valid.session_id).toUpperCase() : valid.session_id,
        reason: rng.pick(["normal", "idle_timeout", "shutdown", "🙂 new reason"]),
        junk: Array.from({ length: rng.int(50) }, () => rng.next()),
      }));
  }
}

Deno.test(
  "10,000 hostile payloads: no crash, no hang, each stored or quarantined, nothing left unacked",
  FAULT_OPTS,
  async () => {
    // The poller's stream keeps 64 MiB (DiscardOld); these payloads add up to more, and a
    // message the stream dropped before delivery would be neither stored nor quarantined.
    const world = await startWorld({ stream: false });
    await world.t.jsm.streams.add({ ...DEVICE_EVENTS_STREAM, max_bytes: 1024 * 1024 * 1024 });
    await Deno.mkdir(`${world.dir}/data`, { recursive: true });
    try {
      const rng = createRandom(SEED);
      const messages = Array.from({ length: COUNT }, () => hostile(rng));
      const byKind: Record<string, number> = {};
      const totalBytes = messages.reduce((sum, m) => sum + m.payload.length, 0);
      for (const m of messages) byKind[m.kind] = (byKind[m.kind] ?? 0) + 1;
      const service = await startWorldService(world, { LOG_LEVEL: "error" });
      try {
        const started = performance.now();
        await publishAll(
          world.t.js,
          messages.map((m, i) => ({ subject: `audit.session.end.h${i}`, payload: m.payload })),
          200,
        );
        await waitFor(
          "every message stored or quarantined",
          async () =>
            await countRows(world.db, "session_ends") +
                await countRows(world.db, "dead_letters") >= COUNT,
          180_000,
          250,
        );
        await consumerSettled(world.t);
        const seconds = (performance.now() - started) / 1000;
        const rows = await countRows(world.db, "session_ends");
        const letters = await countRows(world.db, "dead_letters");
        const exited = await Promise.race([service.status.then(() => true), false]);
        ok(!exited, "the service is still running");
        equal((await service.get("/healthz")).status, 200);
        equal((await service.get("/readyz")).status, 200);
        const info = await world.t.jsm.consumers.info(
          "DEVICE_EVENTS",
          "api-session-audit-consumer",
        );
        report("10,000 hostile payloads", {
          published: COUNT,
          stored: rows,
          quarantined: letters,
          unaccounted: COUNT - rows - letters,
          ack_pending: info.num_ack_pending,
          pending: info.num_pending,
          redelivered: info.num_redelivered,
          seconds: Math.round(seconds * 10) / 10,
          published_mib: Math.round(totalBytes / 1024 / 1024),
          by_kind: byKind,
        });
        equal(rows + letters, COUNT, "rows + dead letters == published");
        equal(info.num_ack_pending, 0);
        // Every stored row is one of ours and holds a well-formed key.
        const rs = await world.db.execute(
          "SELECT count(*) AS n FROM session_ends WHERE session_id NOT GLOB " +
            "'[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*'",
        );
        equal(Number(rs.rows[0].n), 0, "every stored session_id is a lower-case UUID");
        equal(
          await service.metric("session_audit_events_total", 'outcome="quarantined"'),
          letters,
        );
      } finally {
        const status = await service.stop("SIGTERM");
        equal(status.code, 0, service.logs.slice(-20).join("\n"));
      }
    } finally {
      await world.close();
    }
  },
);

import { deepStrictEqual, equal, match, notDeepStrictEqual, ok, throws } from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { wsconnect } from "@nats-io/nats-core";
import { decodeSessionEnd } from "../src/event.ts";
import { startNatsServer } from "./nats_server.ts";
import {
  ANOMALY_CATEGORIES,
  DEVICE_EVENTS_STREAM,
  ensureDeviceEventsStream,
  formatGoRfc3339,
  generateSessionEnds,
  MALFORMED_CATEGORIES,
  POLLER_FIELD_ORDER,
  type SessionEndGeneratorOptions,
  type SimulatedMessage,
} from "./simulator.ts";

const NOW = Date.UTC(2026, 2, 12, 10, 0, 0);
const decoder = new TextDecoder();

function take(count: number, options: SessionEndGeneratorOptions): SimulatedMessage[] {
  const out: SimulatedMessage[] = [];
  for (const message of generateSessionEnds({ clock: () => NOW, ...options })) {
    out.push(message);
    if (out.length === count) break;
  }
  return out;
}

function payloadObject(message: SimulatedMessage): Record<string, unknown> {
  return JSON.parse(decoder.decode(message.payload));
}

Deno.test("the same seed and clock give the same messages, another seed others", () => {
  const first = take(500, { seed: 7 });
  const again = take(500, { seed: 7 });
  deepStrictEqual(
    again.map((m) => [m.subject, decoder.decode(m.payload)]),
    first.map((m) => [m.subject, decoder.decode(m.payload)]),
  );
  notDeepStrictEqual(
    take(500, { seed: 8 }).map((m) => m.subject),
    first.map((m) => m.subject),
  );
});

Deno.test("valid session ends decode clean, anomalous ones with an anomaly, malformed ones fail", () => {
  const messages = take(5000, { seed: "decode", malformedShare: 0.2, anomalousShare: 0.2 });
  let valid = 0, anomalous = 0, malformed = 0;
  for (const message of messages) {
    if (message.kind === "other") continue;
    // The stream receives each event about when it ends (the generator's clock).
    const result = decodeSessionEnd(message.payload, { receivedAt: NOW });
    if (message.kind === "valid") {
      valid++;
      ok(result.ok, `${message.category}: ${decoder.decode(message.payload)}`);
      equal(result.event.sessionId, message.sessionId);
      deepStrictEqual(result.event.anomalies, [], decoder.decode(message.payload));
    } else if (message.kind === "anomalous") {
      anomalous++;
      ok(result.ok, `${message.category}: ${decoder.decode(message.payload)}`);
      equal(result.event.anomalies.length, 1, decoder.decode(message.payload));
    } else {
      malformed++;
      ok(
        !result.ok,
        `${message.category} passed: ${decoder.decode(message.payload).slice(0, 300)}`,
      );
    }
  }
  ok(valid > 2500, `valid: ${valid}`);
  ok(anomalous > 500, `anomalous: ${anomalous}`);
  ok(malformed > 700, `malformed: ${malformed}`);
});

Deno.test("every malformed and every anomalous category of SPEC §2.3 appears", () => {
  const seen = new Set(
    take(3000, { seed: 1, malformedShare: 0.5 }).filter((m) => m.kind === "malformed").map((m) =>
      m.category
    ),
  );
  deepStrictEqual([...seen].sort(), [...MALFORMED_CATEGORIES].sort());
  const anomalies = new Set(
    take(3000, { seed: 1, anomalousShare: 0.5 }).filter((m) => m.kind === "anomalous").map((m) =>
      m.category
    ),
  );
  deepStrictEqual([...anomalies].sort(), [...ANOMALY_CATEGORIES].sort());
  const oversized = take(3000, { seed: 1, malformedShare: 0.5 }).find((m) =>
    m.category === "oversized"
  );
  ok(oversized && oversized.payload.byteLength > 64 * 1024);
});

Deno.test("an idle timeout is followed at once by a normal end of the same session", () => {
  const messages = take(2000, {
    seed: "pairs",
    idlePairShare: 0.3,
    malformedShare: 0,
    anomalousShare: 0,
  });
  let pairs = 0;
  messages.forEach((message, i) => {
    if (message.category !== "idle_timeout") return;
    const next = messages[i + 1];
    if (!next) return;
    pairs++;
    equal(next.subject, message.subject);
    equal(next.category, "normal");
    equal(next.repeat, true);
    const first = payloadObject(message), second = payloadObject(next);
    equal(second.session_id, first.session_id);
    equal(second.start_time, first.start_time);
    equal(second.reason, "normal");
  });
  ok(pairs > 400, `pairs: ${pairs}`);
  equal(messages.filter((m) => m.repeat).length, pairs);
});

Deno.test("valid events look like the poller's: Go RFC 3339, IPv4 and IPv6, reasons, empty user ids", () => {
  const valid = take(3000, { seed: "shape", malformedShare: 0, anomalousShare: 0 }).filter((m) =>
    m.kind === "valid"
  );
  const events = valid.map(payloadObject);
  const goTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)$/;
  for (const event of events) {
    match(String(event.end_time), goTime);
    match(String(event.start_time), goTime);
    deepStrictEqual(Object.keys(event), POLLER_FIELD_ORDER);
  }
  ok(events.some((e) => String(e.end_time).endsWith("Z")));
  ok(events.some((e) => String(e.end_time).endsWith("+02:00")));
  // Every form the relay writes: bare IPv4 and IPv6, and Go's RemoteAddr.
  ok(events.some((e) => /^[0-9a-f:]+$/.test(String(e.source_ip))), "bare IPv6");
  ok(events.some((e) => /^\d+\.\d+\.\d+\.\d+$/.test(String(e.source_ip))), "bare IPv4");
  ok(events.some((e) => /^\d+\.\d+\.\d+\.\d+:\d+$/.test(String(e.source_ip))), "host:port");
  ok(events.some((e) => /^\[[0-9a-f:]+\]:\d+$/.test(String(e.source_ip))), "[v6]:port");
  ok(events.some((e) => e.user_id === ""));
  const reasons = new Set(events.map((e) => e.reason));
  for (const reason of ["normal", "idle_timeout", "shutdown"]) ok(reasons.has(reason), reason);
  const durations = valid.map((m) => decodeSessionEnd(m.payload)).flatMap((r) =>
    r.ok && r.event.durationSeconds !== null ? [r.event.durationSeconds] : []
  );
  ok(Math.min(...durations) < 60, `shortest ${Math.min(...durations)} s`);
  ok(Math.max(...durations) > 3600, `longest ${Math.max(...durations)} s`);
  const tenants = new Set(events.map((e) => e.tenant_id));
  equal(tenants.size, 3);
  equal(new Set(events.map((e) => e.device_id)).size, 15);
});

Deno.test("other stream traffic uses the stream's other subjects", () => {
  const other = take(2000, { seed: "other", otherShare: 0.2 }).filter((m) => m.kind === "other");
  ok(other.length > 200);
  const families = DEVICE_EVENTS_STREAM.subjects.map((s) => s.slice(0, -1));
  for (const message of other) {
    ok(!message.subject.startsWith("audit.session.end."), message.subject);
    ok(families.some((f) => message.subject.startsWith(f)), message.subject);
  }
  ok(other.some((m) => m.subject.startsWith("device.status.")));
});

Deno.test("options out of range fail early, naming the option and its value", () => {
  throws(() => take(1, { tenants: 0 }), /'tenants' must be a positive integer: current value is 0/);
  throws(() => take(1, { malformedShare: 1.5 }), /'malformedShare' .* current value is 1.5/);
  throws(() => take(1, { devicesPerTenant: 2.5 }), /'devicesPerTenant'/);
});

Deno.test("formatGoRfc3339 writes whole seconds, Z for UTC and +hh:mm otherwise", () => {
  equal(formatGoRfc3339(NOW + 999), "2026-03-12T10:00:00Z");
  equal(formatGoRfc3339(NOW, 120), "2026-03-12T12:00:00+02:00");
  equal(formatGoRfc3339(NOW, -300), "2026-03-12T05:00:00-05:00");
  equal(formatGoRfc3339(NOW, 330), "2026-03-12T15:30:00+05:30");
});

Deno.test("DEVICE_EVENTS_STREAM is the poller's stream", () => {
  equal(DEVICE_EVENTS_STREAM.name, "DEVICE_EVENTS");
  equal(DEVICE_EVENTS_STREAM.subjects.length, 10);
  ok(DEVICE_EVENTS_STREAM.subjects.includes("audit.session.end.>"));
  equal(DEVICE_EVENTS_STREAM.max_age, 24 * 3600 * 1e9);
  equal(DEVICE_EVENTS_STREAM.max_bytes, 64 * 1024 * 1024);
  equal(DEVICE_EVENTS_STREAM.discard, "old");
  equal(DEVICE_EVENTS_STREAM.storage, "file");
  equal(DEVICE_EVENTS_STREAM.num_replicas, 1);
});

Deno.test("ensureDeviceEventsStream creates the stream once and leaves an existing one alone", async () => {
  const server = await startNatsServer();
  const nc = await wsconnect({ servers: server.wsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const first = await ensureDeviceEventsStream(jsm);
    equal(first.created, true);
    equal(first.info.config.max_age, DEVICE_EVENTS_STREAM.max_age);
    deepStrictEqual(first.info.config.subjects, DEVICE_EVENTS_STREAM.subjects);
    await jsm.streams.update("DEVICE_EVENTS", { max_bytes: 1024 * 1024 });
    const second = await ensureDeviceEventsStream(jsm);
    equal(second.created, false);
    equal(second.info.config.max_bytes, 1024 * 1024);
  } finally {
    await nc.close();
    await server.stop();
    await Deno.remove(server.dir, { recursive: true });
  }
});

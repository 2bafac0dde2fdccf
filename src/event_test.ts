import * as v from "valibot";
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  type Anomaly,
  type DecodeResult,
  decodeSessionEnd,
  isUuid,
  MAX_EVENT_BYTES,
  type Rejection,
  type SessionEnd,
} from "./event.ts";
import { MAX_REASON_LENGTH } from "./secondary_fields.ts";
import { POLLER_FIELD_ORDER } from "../scripts/simulator.ts";

const encoder = new TextEncoder();

const SESSION = "3f2b8c1e-7d4a-4e9b-9c0d-1a2b3c4d5e6f";
const TENANT = "0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3";
const DEVICE = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
const USER = "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f";

function validPayload(): Record<string, unknown> {
  return {
    session_id: SESSION,
    user_id: USER,
    tenant_id: TENANT,
    device_id: DEVICE,
    start_time: "2026-03-12T10:00:00Z",
    end_time: "2026-03-12T10:15:00Z",
    source_ip: "203.0.113.7",
    reason: "idle_timeout",
  };
}

function decode(payload: unknown): DecodeResult {
  return decodeSessionEnd(encoder.encode(JSON.stringify(payload)));
}

function decodeWith(changes: Record<string, unknown>): DecodeResult {
  return decode({ ...validPayload(), ...changes });
}

function decodeWithout(field: string): DecodeResult {
  const payload = validPayload();
  delete payload[field];
  return decode(payload);
}

function event(result: DecodeResult): SessionEnd {
  if (!result.ok) throw new Error(`expected a valid event, got: ${result.reason}`);
  return result.event;
}

function rejection(result: DecodeResult): Rejection {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.event)}`);
  return result;
}

function reason(result: DecodeResult): string {
  return rejection(result).reason;
}

/** The anomalies of an event decoded with `changes`, which must still be a row. */
function anomaliesWith(changes: Record<string, unknown>): readonly Anomaly[] {
  return event(decodeWith(changes)).anomalies;
}

// --- valid events --------------------------------------------------------------------------

Deno.test("a valid event normalises into the stored shape", () => {
  deepStrictEqual(event(decode(validPayload())), {
    sessionId: SESSION,
    tenantId: TENANT,
    deviceId: DEVICE,
    userId: USER,
    startTime: Date.UTC(2026, 2, 12, 10, 0, 0),
    endTime: Date.UTC(2026, 2, 12, 10, 15, 0),
    durationSeconds: 900,
    sourceIp: "203.0.113.7",
    sourcePort: null,
    reason: "idle_timeout",
    anomalies: [],
  });
});

Deno.test("UUIDs are stored lower-cased", () => {
  const e = event(decodeWith({
    session_id: SESSION.toUpperCase(),
    tenant_id: TENANT.toUpperCase(),
    device_id: DEVICE.toUpperCase(),
    user_id: USER.toUpperCase(),
  }));
  equal(e.sessionId, SESSION);
  equal(e.tenantId, TENANT);
  equal(e.deviceId, DEVICE);
  equal(e.userId, USER);
});

Deno.test("times with offsets become epoch milliseconds of the same instant", () => {
  const e = event(decodeWith({
    start_time: "2026-03-12T12:00:00+02:00",
    end_time: "2026-03-12T05:15:00-05:00",
  }));
  equal(e.startTime, Date.UTC(2026, 2, 12, 10, 0, 0));
  equal(e.endTime, Date.UTC(2026, 2, 12, 10, 15, 0));
  equal(e.durationSeconds, 900);
});

Deno.test("the duration is truncated to whole seconds: 899.9 s is 899", () => {
  const e = event(decodeWith({
    start_time: "2026-03-12T10:00:00Z",
    end_time: "2026-03-12T10:14:59.9Z",
  }));
  equal(e.durationSeconds, 899);
});

Deno.test("equal start and end give a duration of 0", () => {
  equal(
    event(decodeWith({ end_time: "2026-03-12T10:00:00Z" })).durationSeconds,
    0,
  );
});

Deno.test("the duration is null when the end is before the start", () => {
  const e = event(decodeWith({
    start_time: "2026-03-12T10:15:00Z",
    end_time: "2026-03-12T10:00:00Z",
  }));
  equal(e.durationSeconds, null);
  equal(e.startTime, Date.UTC(2026, 2, 12, 10, 15, 0));
  equal(e.endTime, Date.UTC(2026, 2, 12, 10, 0, 0));
});

Deno.test("a missing, null or empty time is absent and makes the duration null", () => {
  for (const absent of [undefined, null, ""]) {
    const noStart = event(decodeWith({ start_time: absent }));
    equal(noStart.startTime, null);
    equal(noStart.endTime, Date.UTC(2026, 2, 12, 10, 15, 0));
    equal(noStart.durationSeconds, null);
    const noEnd = event(decodeWith({ end_time: absent }));
    equal(noEnd.endTime, null);
    equal(noEnd.durationSeconds, null);
  }
  const neither = event(decodeWith({ start_time: undefined, end_time: undefined }));
  equal(neither.startTime, null);
  equal(neither.endTime, null);
});

Deno.test("Go's zero time 0001-01-01T00:00:00Z is treated as absent", () => {
  const e = event(decodeWith({ start_time: "0001-01-01T00:00:00Z" }));
  equal(e.startTime, null);
  equal(e.durationSeconds, null);
  equal(event(decodeWith({ end_time: "0001-01-01T00:00:00Z" })).endTime, null);
});

Deno.test("an empty, null or missing user_id is stored as null", () => {
  equal(event(decodeWith({ user_id: "" })).userId, null);
  equal(event(decodeWith({ user_id: null })).userId, null);
  equal(event(decodeWithout("user_id")).userId, null);
});

Deno.test("a missing source_ip and reason are stored as null", () => {
  const e = event(decodeWith({ source_ip: "", reason: null }));
  equal(e.sourceIp, null);
  equal(e.reason, null);
});

Deno.test("any non-empty reason of at most 64 characters is accepted as it is, non-ASCII too", () => {
  for (
    const text of [
      "admin_kill",
      "normal",
      "killed by admin",
      " padded ",
      "Ｎｏｒｍａｌ",
      "déconnecté",
      "切断",
      "😀".repeat(MAX_REASON_LENGTH), // 64 characters, 128 UTF-16 units
      "r".repeat(MAX_REASON_LENGTH),
      "ze\u200Bro",
      "<script>",
    ]
  ) {
    const e = event(decodeWith({ reason: text }));
    equal(e.reason, text, JSON.stringify(text));
    deepStrictEqual(e.anomalies, []);
  }
});

Deno.test("unknown fields are ignored", () => {
  const e = event(decodeWith({ action: "ssh_session_end", extra: { nested: [1, 2] }, n: 3 }));
  deepStrictEqual(e, event(decode(validPayload())));
  ok(!("action" in e));
});

Deno.test("__proto__ and constructor keys are harmless", () => {
  const text = JSON.stringify(validPayload()).replace(
    /^\{/,
    '{"__proto__":{"polluted":true,"session_id":"not-a-uuid"},"constructor":{"prototype":{"polluted":true}},',
  );
  const e = event(decodeSessionEnd(encoder.encode(text)));
  equal(e.sessionId, SESSION);
  equal(Object.getPrototypeOf(e), Object.prototype);
  equal(({} as Record<string, unknown>).polluted, undefined);
  ok(!("polluted" in e));

  // A payload whose only content is a __proto__ carrying the fields is not an event.
  const hidden = `{"__proto__":${JSON.stringify(validPayload())}}`;
  equal(reason(decodeSessionEnd(encoder.encode(hidden))), "session_id: is missing");
});

Deno.test("every source_ip form the relay writes becomes the canonical address and its port", () => {
  const cases: Array<[string, string, number | null]> = [
    ["203.0.113.7", "203.0.113.7", null],
    ["2001:DB8::7", "2001:db8::7", null],
    ["198.51.100.23:53122", "198.51.100.23", 53122],
    ["[2001:db8::7]:443", "2001:db8::7", 443],
    ["[2001:db8:0:0:0:0:0:7]:443", "2001:db8::7", 443],
    ["::ffff:192.0.2.1", "192.0.2.1", null],
    ["[::ffff:192.0.2.1]:22", "192.0.2.1", 22],
    ["fe80::1%eth0", "fe80::1", null],
    ["[fe80::1%25eth0]:22", "fe80::1", 22],
    ["  203.0.113.7\t", "203.0.113.7", null],
  ];
  for (const [raw, ip, port] of cases) {
    const e = event(decodeWith({ source_ip: raw }));
    deepStrictEqual([e.sourceIp, e.sourcePort, e.anomalies], [ip, port, []], raw);
  }
});

// --- malformed events (SPEC §2.3) ------------------------------------------------------------

Deno.test("a payload that is not JSON is rejected as not JSON", () => {
  match(reason(decodeSessionEnd(encoder.encode("{not json"))), /^not JSON/);
  match(reason(decodeSessionEnd(encoder.encode(""))), /^not JSON/);
  match(
    reason(decodeSessionEnd(encoder.encode(JSON.stringify(validPayload()) + "x"))),
    /^not JSON/,
  );
});

Deno.test("invalid UTF-8 bytes are rejected as not UTF-8 JSON, even inside a JSON string", () => {
  match(
    reason(decodeSessionEnd(new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]))),
    /^not JSON: the payload is not valid UTF-8/,
  );
  const good = encoder.encode(JSON.stringify(validPayload()));
  const at = good.indexOf(encoder.encode("idle_timeout")[0]);
  const bad = new Uint8Array(good);
  bad[at] = 0xc3; // a lead byte followed by ASCII: an invalid sequence
  match(reason(decodeSessionEnd(bad)), /^not JSON: the payload is not valid UTF-8/);
  // the same bytes decoded leniently would have been a valid event
  equal(event(decodeSessionEnd(good)).reason, "idle_timeout");
});

Deno.test("JSON that is not an object is rejected saying what it is", () => {
  equal(reason(decode([validPayload()])), "not a JSON object: got array");
  equal(reason(decode(null)), "not a JSON object: got null");
  equal(reason(decode(42)), "not a JSON object: got number");
  equal(reason(decode("a string")), "not a JSON object: got string");
  equal(reason(decode(true)), "not a JSON object: got boolean");
});

/** A valid payload padded with an unknown field to exactly `bytes` bytes. */
function paddedTo(bytes: number): Uint8Array {
  const base = JSON.stringify({ ...validPayload(), pad: "" });
  const pad = "x".repeat(bytes - encoder.encode(base).byteLength);
  const data = encoder.encode(JSON.stringify({ ...validPayload(), pad }));
  equal(data.byteLength, bytes);
  return data;
}

Deno.test("a payload of exactly 64 KiB is accepted, one byte more is rejected", () => {
  equal(MAX_EVENT_BYTES, 65_536);
  equal(event(decodeSessionEnd(paddedTo(65_536))).sessionId, SESSION);
  equal(
    reason(decodeSessionEnd(paddedTo(65_537))),
    "payload is 65537 bytes, over the 65536-byte limit",
  );
});

for (const field of ["tenant_id", "device_id", "session_id"]) {
  Deno.test(`a missing ${field} is rejected naming it`, () => {
    equal(reason(decodeWithout(field)), `${field}: is missing`);
  });

  Deno.test(`a ${field} that is not a UUID is rejected naming it`, () => {
    for (
      const bad of [
        "",
        "not-a-uuid",
        "3f2b8c1e7d4a4e9b9c0d1a2b3c4d5e6f",
        `{${SESSION}}`,
        `${SESSION} `,
      ]
    ) {
      equal(reason(decodeWith({ [field]: bad })), `${field}: must be a UUID`, bad);
    }
    for (const bad of [null, 42, [SESSION], { id: SESSION }]) {
      match(reason(decodeWith({ [field]: bad })), new RegExp(`^${field}: `));
    }
  });
}

// --- anomalies: a valid identity is always a row (SPEC §2.3) --------------------------------

Deno.test("an unusable user_id is null, its raw value kept as an anomaly", () => {
  const e = event(decodeWith({ user_id: "bob" }));
  equal(e.userId, null);
  deepStrictEqual(e.anomalies, [{ field: "user_id", value: "bob", problem: "not a UUID" }]);
  deepStrictEqual(anomaliesWith({ user_id: 7 }), [
    { field: "user_id", value: "7", problem: "not a string (number)" },
  ]);
});

Deno.test("an impossible or malformed time is null, kept as an anomaly; the duration is null", () => {
  for (const bad of ["2026-02-30T00:00:00Z", "2026-03-12 10:00:00", "yesterday", "1741773600"]) {
    const e = event(decodeWith({ start_time: bad }));
    equal(e.startTime, null);
    equal(e.durationSeconds, null);
    deepStrictEqual(e.anomalies, [
      { field: "start_time", value: bad, problem: "not an RFC 3339 time" },
    ]);
  }
  deepStrictEqual(anomaliesWith({ end_time: "2026-03-12T24:00:00Z", start_time: 1741773600 }), [
    { field: "start_time", value: "1741773600", problem: "not a string (number)" },
    { field: "end_time", value: "2026-03-12T24:00:00Z", problem: "not an RFC 3339 time" },
  ]);
  deepStrictEqual(anomaliesWith({ end_time: {} }), [
    { field: "end_time", value: "{}", problem: "not a string (object)" },
  ]);
});

Deno.test("an end_time beyond the skew allowance after the stream received it is kept and flagged", () => {
  const receivedAt = Date.UTC(2026, 2, 12, 10, 15, 0);
  const at = (endTime: string, skewMs?: number) =>
    event(
      decodeSessionEnd(encoder.encode(JSON.stringify({ ...validPayload(), end_time: endTime })), {
        receivedAt,
        skewMs,
      }),
    );
  // Exactly at the allowance (5 min by default): not flagged.
  deepStrictEqual(at("2026-03-12T10:20:00Z").anomalies, []);
  const future = at("2026-03-12T10:20:01Z");
  equal(future.endTime, Date.UTC(2026, 2, 12, 10, 20, 1), "the time is kept");
  equal(future.durationSeconds, 1201);
  deepStrictEqual(future.anomalies, [{
    field: "end_time",
    value: "2026-03-12T10:20:01Z",
    problem: "in the future: more than 300 s after the stream received the event",
  }]);
  deepStrictEqual(at("2099-01-01T00:00:00Z", 0).anomalies.map((a) => a.problem), [
    "in the future: more than 0 s after the stream received the event",
  ]);
  // Without a receive time (an event decoded outside ingest) it is not checked.
  deepStrictEqual(event(decodeWith({ end_time: "2099-01-01T00:00:00Z" })).anomalies, []);
});

Deno.test("an unusable source_ip is null, kept verbatim as an anomaly", () => {
  const cases: Array<[unknown, string, string]> = [
    ["unknown", "unknown", "not an IP address"],
    ["203.0.113.7, 10.0.0.1", "203.0.113.7, 10.0.0.1", "a list of addresses, not one"],
    ["999.1.1.1", "999.1.1.1", "not an IP address"],
    ["01.2.3.4", "01.2.3.4", "not an IP address"],
    ["localhost:8080", "localhost:8080", "not an IP address"],
    ["203.0.113.7:99999", "203.0.113.7:99999", "not a port number (0-65535)"],
    ["[2001:db8::g]:1", "[2001:db8::g]:1", "not an IP address"],
    [" unknown ", " unknown ", "not an IP address"],
    [1234, "1234", "not a string (number)"],
  ];
  for (const [raw, value, problem] of cases) {
    const e = event(decodeWith({ source_ip: raw }));
    deepStrictEqual([e.sourceIp, e.sourcePort], [null, null], String(raw));
    deepStrictEqual(e.anomalies, [{ field: "source_ip", value, problem }], String(raw));
  }
});

Deno.test("a reason that is not a string, too long or with control characters is an anomaly", () => {
  const cases: Array<[unknown, string, string]> = [
    [1, "1", "not a string (number)"],
    [["normal"], '["normal"]', "not a string (array)"],
    ["r".repeat(MAX_REASON_LENGTH + 1), "r".repeat(65), "longer than 64 characters"],
    ["😀".repeat(MAX_REASON_LENGTH + 1), "😀".repeat(65), "longer than 64 characters"],
    ["normal\n", "normal\n", "contains a control character"],
    ["idle\u0000", "idle\u0000", "contains a control character"],
    ["a\tb", "a\tb", "contains a control character"],
    ["a\u0085b", "a\u0085b", "contains a control character"],
    ["\uD800", "\uD800", "not well-formed Unicode (a lone surrogate)"],
  ];
  for (const [raw, value, problem] of cases) {
    const e = event(decodeWith({ reason: raw }));
    equal(e.reason, null, JSON.stringify(raw));
    deepStrictEqual(e.anomalies, [{ field: "reason", value, problem }], JSON.stringify(raw));
  }
});

Deno.test("every unusable secondary field at once: a row with one anomaly each, in field order", () => {
  const e = event(decodeWith({
    reason: "a\u0007",
    source_ip: "unknown",
    end_time: "later",
    start_time: "earlier",
    user_id: "root",
  }));
  deepStrictEqual(e.anomalies.map((a) => a.field), [
    "user_id",
    "start_time",
    "end_time",
    "source_ip",
    "reason",
  ]);
  deepStrictEqual(
    [e.userId, e.startTime, e.endTime, e.sourceIp, e.reason, e.durationSeconds],
    [null, null, null, null, null, null],
  );
});

Deno.test("quarantine classes: too large, not JSON, not an object, identity", () => {
  equal(rejection(decodeSessionEnd(paddedTo(65_537))).class, "too_large");
  equal(rejection(decodeSessionEnd(encoder.encode("{"))).class, "not_json");
  equal(rejection(decodeSessionEnd(new Uint8Array([0xff]))).class, "not_json");
  equal(rejection(decode([1])).class, "not_object");
  equal(rejection(decodeWith({ device_id: "router-7" })).class, "identity");
});

// --- property: decoding never throws ----------------------------------------------------------
/** A small seeded PRNG (mulberry32) so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const FIELDS: readonly string[] = POLLER_FIELD_ORDER;

function randomJson(random: () => number, depth = 0): unknown {
  const pick = Math.floor(random() * (depth > 3 ? 6 : 8));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return [
        0,
        -1,
        1e308,
        -0.5,
        2 ** 53 + 1,
        Math.floor(random() * 1e6),
      ][Math.floor(random() * 6)];
    case 3:
      return [SESSION, SESSION.toUpperCase(), "", "0001-01-01T00:00:00Z", "::1", "normal"][
        Math.floor(random() * 6)
      ];
    case 4:
      return String.fromCharCode(
        ...Array.from({ length: Math.floor(random() * 12) }, () => Math.floor(random() * 0xd7ff)),
      );
    case 5:
      return "2026-0" + Math.floor(random() * 10) + "-" + Math.floor(random() * 40) + "T10:00:00Z";
    case 6:
      return Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      const keys = [...FIELDS, "__proto__", "constructor", "toString", "x"];
      for (let i = Math.floor(random() * 10); i > 0; i--) {
        // defineProperty, so that "__proto__" becomes an own key as JSON.parse would make it
        Object.defineProperty(object, keys[Math.floor(random() * keys.length)], {
          value: randomJson(random, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    }
  }
}

function assertWellFormed(result: DecodeResult, input: string): void {
  if (result.ok) {
    equal(typeof result.event.sessionId, "string", input);
    ok(
      result.event.durationSeconds === null || Number.isInteger(result.event.durationSeconds),
      input,
    );
    for (const a of result.event.anomalies) {
      ok(typeof a.value === "string" && typeof a.problem === "string", input);
    }
  } else {
    equal(typeof result.reason, "string", input);
    ok(result.reason.length > 0, input);
    ok(!result.reason.includes("\n"), `multi-line reason for ${input}`);
  }
}

Deno.test("2,000 random byte strings never throw and always give an event or a reason", () => {
  const random = prng(20260312);
  for (let i = 0; i < 2_000; i++) {
    const length = Math.floor(random() * (i % 10 === 0 ? 2_000 : 64));
    const bytes = new Uint8Array(length);
    for (let j = 0; j < length; j++) bytes[j] = Math.floor(random() * 256);
    if (i % 3 === 0 && length > 0) bytes[0] = 0x7b; // '{', to get past the first JSON byte more often
    assertWellFormed(decodeSessionEnd(bytes), `bytes #${i}`);
  }
});

const IDENTITY = ["session_id", "tenant_id", "device_id"];

Deno.test("2,000 random JSON values never throw; only an identity field quarantines an object", () => {
  const random = prng(42);
  let accepted = 0;
  for (let i = 0; i < 2_000; i++) {
    const field = FIELDS[i % FIELDS.length];
    const value = i % 2 === 0
      ? randomJson(random)
      // a valid payload with one field replaced by a random value
      : { ...validPayload(), [field]: randomJson(random, 2) };
    const text = JSON.stringify(value) ?? "null";
    const result = decodeSessionEnd(encoder.encode(text));
    assertWellFormed(result, text);
    if (result.ok) {
      accepted++;
      // A secondary field replaced: the row keeps each unusable value as an anomaly of that field.
      if (i % 2 === 1 && !IDENTITY.includes(field)) {
        ok(result.event.anomalies.every((a) => a.field === field), text);
      }
    } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      const named = result.reason.split(":")[0];
      ok(
        IDENTITY.includes(named),
        `reason ${JSON.stringify(result.reason)} names no identity field`,
      );
      if (i % 2 === 1) equal(named, field, text);
    }
  }
  ok(accepted > 0, "no random value was accepted: the generator never reaches the happy path");
});

Deno.test("isUuid accepts exactly what valibot's uuid() accepts", () => {
  const schema = v.pipe(v.string(), v.uuid());
  const samples = [
    SESSION,
    SESSION.toUpperCase(),
    "3F2b8c1e-7d4a-4e9b-9c0d-1a2b3c4d5e6f",
    SESSION.replaceAll("-", ""),
    ` ${SESSION}`,
    `${SESSION}0`,
    SESSION.slice(0, 35),
    SESSION.replace("-", "_"),
    SESSION.replace("3", "g"),
    SESSION.replace("3", "\u0663"), // an Arabic-Indic digit three
    "",
  ];
  const hex = "0123456789abcdefABCDEF-g ";
  for (let i = 0; i < 2_000; i++) {
    const chars = Array.from(
      SESSION,
      (c) => Math.random() < 0.02 ? hex[Math.floor(Math.random() * hex.length)] : c,
    );
    samples.push(chars.join(""));
  }
  for (const text of samples) equal(isUuid(text), v.is(schema, text), JSON.stringify(text));
});

import * as v from "valibot";
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  type DecodeResult,
  decodeSessionEnd,
  isIpAddress,
  isUuid,
  MAX_EVENT_BYTES,
  MAX_REASON_LENGTH,
  type SessionEnd,
} from "./event.ts";

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

function reason(result: DecodeResult): string {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.event)}`);
  return result.reason;
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
    reason: "idle_timeout",
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

Deno.test("reasons other than today's three are accepted as they are", () => {
  equal(event(decodeWith({ reason: "admin_kill" })).reason, "admin_kill");
  equal(event(decodeWith({ reason: "normal" })).reason, "normal");
  equal(event(decodeWith({ reason: "killed by admin" })).reason, "killed by admin");
  const longest = "r".repeat(MAX_REASON_LENGTH);
  equal(event(decodeWith({ reason: longest })).reason, longest);
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

Deno.test("IPv4 and IPv6 source addresses are accepted, IPv6 stored lower-cased", () => {
  for (
    const ip of [
      "0.0.0.0",
      "255.255.255.255",
      "10.0.0.1",
      "::1",
      "2001:db8::1",
      "::ffff:192.0.2.1",
      "fe80::1:2:3:4",
    ]
  ) {
    equal(event(decodeWith({ source_ip: ip })).sourceIp, ip);
  }
  equal(event(decodeWith({ source_ip: "2001:DB8::1" })).sourceIp, "2001:db8::1");
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

Deno.test("an invalid user_id is rejected naming it", () => {
  equal(reason(decodeWith({ user_id: "bob" })), "user_id: must be a UUID");
  equal(reason(decodeWith({ user_id: 7 })), "user_id: must be a string");
});

Deno.test("an impossible or malformed start_time is rejected naming it", () => {
  for (const bad of ["2026-02-30T00:00:00Z", "2026-03-12 10:00:00", "yesterday", "1741773600"]) {
    match(reason(decodeWith({ start_time: bad })), /^start_time: must be an RFC 3339 time/, bad);
  }
  equal(reason(decodeWith({ start_time: 1741773600 })), "start_time: must be a string");
});

Deno.test("an invalid end_time is rejected naming it", () => {
  match(reason(decodeWith({ end_time: "2026-03-12T24:00:00Z" })), /^end_time: must be an RFC 3339/);
  equal(reason(decodeWith({ end_time: {} })), "end_time: must be a string");
});

Deno.test("an invalid source_ip is rejected naming it", () => {
  for (
    const bad of [
      "1.2.3.4:22",
      "999.1.1.1",
      "01.2.3.4",
      "hello",
      "1.2.3",
      "[::1]",
      "::1%eth0",
      "2001:db8::g",
    ]
  ) {
    equal(
      reason(decodeWith({ source_ip: bad })),
      "source_ip: must be an IPv4 or IPv6 address",
      bad,
    );
  }
  equal(reason(decodeWith({ source_ip: 1234 })), "source_ip: must be a string");
});

Deno.test("a reason that is not a string, too long or with control characters is rejected", () => {
  equal(reason(decodeWith({ reason: 1 })), "reason: must be a string");
  equal(reason(decodeWith({ reason: ["normal"] })), "reason: must be a string");
  for (
    const bad of [
      "r".repeat(MAX_REASON_LENGTH + 1),
      "normal\n",
      "idle\u0000",
      "a\tb",
      " normal",
      "normal ",
    ]
  ) {
    match(
      reason(decodeWith({ reason: bad })),
      /^reason: must be a short printable string/,
      JSON.stringify(bad),
    );
  }
});

Deno.test("isIpAddress rejects ports, zones and brackets", () => {
  equal(isIpAddress("192.0.2.1"), true);
  equal(isIpAddress("::"), true);
  equal(isIpAddress("192.0.2.1:80"), false);
  equal(isIpAddress("fe80::1%1"), false);
  equal(isIpAddress("fe80::1%eth0"), false);
  equal(isIpAddress("[2001:db8::1]"), false);
  equal(isIpAddress(""), false);
});

Deno.test("isIpAddress takes IPv4 and IPv6 text as written, nothing looser", () => {
  const accepted = [
    "0.0.0.0",
    "255.255.255.255",
    "2001:DB8::7",
    "::ffff:192.0.2.1",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:1.2.3.4",
  ];
  const refused = [
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3",
    "1.2.3.4.5",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "::ffff:01.2.3.4",
    "2001:db8::g",
    "localhost",
  ];
  for (const text of accepted) equal(isIpAddress(text), true, text);
  for (const text of refused) equal(isIpAddress(text), false, text);
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

const FIELDS = [
  "session_id",
  "user_id",
  "tenant_id",
  "device_id",
  "start_time",
  "end_time",
  "source_ip",
  "reason",
];

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

Deno.test("2,000 random JSON values never throw; a rejected object's reason names a field", () => {
  const random = prng(42);
  let accepted = 0;
  for (let i = 0; i < 2_000; i++) {
    const value = i % 2 === 0
      ? randomJson(random)
      // a valid payload with one field replaced by a random value
      : { ...validPayload(), [FIELDS[i % FIELDS.length]]: randomJson(random, 2) };
    const text = JSON.stringify(value) ?? "null";
    const result = decodeSessionEnd(encoder.encode(text));
    assertWellFormed(result, text);
    if (result.ok) accepted++;
    else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      const field = result.reason.split(":")[0];
      ok(FIELDS.includes(field), `reason ${JSON.stringify(result.reason)} names no field`);
      if (i % 2 === 1) equal(field, FIELDS[i % FIELDS.length], text);
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

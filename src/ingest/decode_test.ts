import { deepStrictEqual, doesNotThrow, equal, match, ok } from "node:assert/strict";
import { sessionEnd } from "../../tests/harness.ts";
import { FakeMsg } from "../testing/fake_msg.ts";
import { classify, decodeBatch } from "./decode.ts";

const STREAM = "DEVICE_EVENTS";
const SETTINGS = { stream: STREAM };

function message(seq: number, payload: unknown): FakeMsg {
  return new FakeMsg({
    seq,
    data: typeof payload === "string" ? payload : JSON.stringify(payload),
  });
}

Deno.test("a valid event becomes a row with its stream sequence and arrival time", () => {
  const event = sessionEnd({ session_id: "6F9619FF-8B86-4011-B42D-00C04FC964FF" });
  const msg = new FakeMsg({
    seq: 42,
    data: JSON.stringify(event),
    receivedAtMs: 1_773_000_123_456,
  });
  const decoded = classify(msg, SETTINGS);
  ok(decoded.kind === "valid");
  equal(decoded.msg, msg);
  equal(decoded.row.streamSeq, 42);
  equal(decoded.row.receivedAt, 1_773_000_123_456);
  equal(decoded.row.event.sessionId, "6f9619ff-8b86-4011-b42d-00c04fc964ff");
  equal(decoded.row.event.tenantId, event.tenant_id);
  // The message it came from, to quarantine it verbatim should the database refuse it.
  equal(decoded.row.stream, STREAM);
  equal(decoded.row.subject, msg.subject);
  equal(decoded.row.payload, msg.data);
});

Deno.test("an event with a valid identity and unusable other fields is a row, never a dead letter", () => {
  const msg = new FakeMsg({
    seq: 3,
    data: JSON.stringify({ ...sessionEnd(), user_id: "bob", source_ip: "unknown", reason: 42 }),
    receivedAtMs: Date.UTC(2026, 2, 12, 10, 15, 1),
  });
  const decoded = classify(msg, SETTINGS);
  ok(decoded.kind === "valid");
  deepStrictEqual(decoded.row.event.anomalies.map((a) => a.field), [
    "user_id",
    "source_ip",
    "reason",
  ]);
});

Deno.test("the end_time is judged against the stream's receive time and the skew allowance", () => {
  const receivedAtMs = Date.UTC(2026, 2, 12, 10, 15, 0);
  const data = JSON.stringify(sessionEnd({ end_time: "2026-03-12T10:16:00Z" }));
  const flagged = (skewMs?: number) => {
    const decoded = classify(new FakeMsg({ seq: 1, data, receivedAtMs }), {
      stream: STREAM,
      skewMs,
    });
    ok(decoded.kind === "valid");
    return decoded.row.event.anomalies.map((a) => a.field);
  };
  deepStrictEqual(flagged(), [], "a minute ahead is within the default 5 minutes");
  deepStrictEqual(flagged(30_000), ["end_time"]);
});

Deno.test("an invalid event becomes a dead letter: payload verbatim, subject, reason", () => {
  const payload = JSON.stringify({ ...sessionEnd(), device_id: "router-7" });
  const msg = new FakeMsg({
    seq: 7,
    data: payload,
    subject: "audit.session.end.x",
    receivedAtMs: 1_773_000_000_001,
  });
  const decoded = classify(msg, SETTINGS);
  ok(decoded.kind === "invalid");
  equal(decoded.msg, msg);
  equal(decoded.letter.stream, STREAM);
  equal(decoded.letter.streamSeq, 7);
  equal(decoded.letter.subject, "audit.session.end.x");
  equal(new TextDecoder().decode(decoded.letter.payload), payload);
  equal(decoded.letter.receivedAt, 1_773_000_000_001);
  match(decoded.letter.error, /device_id/);
  equal(decoded.class, "identity");
});

Deno.test("no payload makes decoding throw; each one is quarantined with a reason", () => {
  const hostile: Array<string | Uint8Array> = [
    "",
    "{not json",
    "null",
    "[1,2,3]",
    '"a string"',
    new Uint8Array([0xff, 0xfe, 0x00, 0x7b]),
    "[".repeat(30_000) + "]".repeat(30_000),
    JSON.stringify({ ...sessionEnd(), pad: "x".repeat(70_000) }),
    '{"__proto__":{"tenant_id":"x"},"constructor":1}',
  ];
  for (const [i, data] of hostile.entries()) {
    doesNotThrow(() => {
      const decoded = classify(new FakeMsg({ seq: i + 1, data }), SETTINGS);
      ok(decoded.kind === "invalid", `payload ${i} decoded as valid`);
      ok(decoded.letter.error.length > 0, `payload ${i} has no reason`);
    });
  }
});

Deno.test("a batch keeps its order across slices and splits rows from dead letters", async () => {
  const msgs = Array.from(
    { length: 250 },
    (_, i) => message(i + 1, i % 10 === 3 ? `bad ${i}` : sessionEnd()),
  );
  const batch = await decodeBatch(msgs, SETTINGS);
  equal(batch.messages, msgs);
  deepStrictEqual(batch.decoded.map((d) => d.msg), msgs);
  equal(batch.letters.length, 25);
  equal(batch.rows.length, 225);
  deepStrictEqual(
    batch.letters.map((l) => l.streamSeq),
    msgs.filter((_, i) => i % 10 === 3).map((m) => m.info.streamSequence),
  );
  deepStrictEqual(
    batch.rows.map((r) => r.streamSeq),
    msgs.filter((_, i) => i % 10 !== 3).map((m) => m.info.streamSequence),
  );
});

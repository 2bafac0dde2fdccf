import { deepStrictEqual, equal } from "node:assert/strict";
import { streamGauges } from "./lag.ts";

/** The poller's limits (SPEC §1): no max_msgs, 64 MiB, 24 h in nanoseconds. */
const POLLER_LIMITS = { max_msgs: -1, max_bytes: 64 * 1024 * 1024, max_age: 86_400 * 1e9 };
/** Ten messages of 100 bytes, seq 1 to 10. */
const TEN_MESSAGES = { messages: 10, bytes: 1000, last_seq: 10 };

Deno.test("the stream's limits are exported in base units, a missing limit as 0", () => {
  const gauges = streamGauges(
    { config: POLLER_LIMITS, state: { messages: 0, bytes: 0, last_seq: 0 } },
    undefined,
  );
  equal(gauges.session_audit_stream_max_messages, 0);
  equal(gauges.session_audit_stream_max_bytes, 67_108_864);
  equal(gauges.session_audit_stream_max_age_seconds, 86_400);
  const unlimited = { max_msgs: -1, max_bytes: -1, max_age: 0 };
  const none = streamGauges({ config: unlimited, state: TEN_MESSAGES }, 1);
  equal(none.session_audit_stream_max_messages, 0);
  equal(none.session_audit_stream_max_bytes, 0);
  equal(none.session_audit_stream_max_age_seconds, 0);
  equal(none.session_audit_backlog_messages, 10);
  equal(none.session_audit_backlog_bytes, 1000);
});

Deno.test("the backlog counts the stream's messages from the oldest event not yet stored to the last", () => {
  // 1,000 messages of every subject (seq 501 to 1,500), 100 bytes each on average; the oldest
  // event not yet stored is seq 1,401.
  const gauges = streamGauges(
    { config: POLLER_LIMITS, state: { messages: 1_000, bytes: 100_000, last_seq: 1_500 } },
    1_401,
  );
  deepStrictEqual(gauges, {
    session_audit_stream_messages: 1_000,
    session_audit_stream_bytes: 100_000,
    session_audit_stream_max_messages: 0,
    session_audit_stream_max_bytes: 67_108_864,
    session_audit_stream_max_age_seconds: 86_400,
    session_audit_backlog_messages: 100,
    session_audit_backlog_bytes: 10_000,
  });
});

Deno.test("caught up, the backlog is 0 however full the stream is", () => {
  const full = { messages: 125_000, bytes: 64 * 1024 * 1024, last_seq: 900_000 };
  const gauges = streamGauges({ config: POLLER_LIMITS, state: full }, undefined);
  equal(gauges.session_audit_backlog_messages, 0);
  equal(gauges.session_audit_backlog_bytes, 0);
  equal(gauges.session_audit_stream_bytes, 64 * 1024 * 1024);
});

Deno.test("an oldest event past the stream's last reading counts as no backlog, never negative", () => {
  const gauges = streamGauges({ config: POLLER_LIMITS, state: TEN_MESSAGES }, 12);
  equal(gauges.session_audit_backlog_messages, 0);
  equal(gauges.session_audit_backlog_bytes, 0);
});

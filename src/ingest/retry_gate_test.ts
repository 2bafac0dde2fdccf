import { deepStrictEqual, equal } from "node:assert/strict";
import { FakeMsg } from "../testing/fake_msg.ts";
import { FakeTimers } from "../testing/fake_timers.ts";
import { RETRY_MARGIN_MS, retryDelay, RetryGate } from "./retry_gate.ts";

const msgs = (...seqs: number[]) => seqs.map((seq) => new FakeMsg({ seq }));

Deno.test("while nothing has failed, no message waits", () => {
  const clock = new FakeTimers();
  const gate = new RetryGate({ clock });
  const [a] = msgs(1);
  equal(gate.mustWait(a), false);
  equal(gate.anyMustWait(msgs(2, 3)), false);
  equal(gate.retrying, false);
  equal(gate.failures, 0);
});

Deno.test("a failed batch's messages wait until retryDelay after the failure, no longer", () => {
  const clock = new FakeTimers();
  const gate = new RetryGate({ clock });
  const failed = msgs(1, 2);
  gate.settled(failed, 1);
  equal(gate.failures, 1);
  equal(gate.retrying, true);
  const retryAt = clock.now() + retryDelay(1);
  equal(gate.waitUntil(failed[0]), retryAt);
  clock.advance(retryDelay(1) - 1);
  equal(gate.mustWait(failed[0]), true, "let through before retryAt");
  clock.advance(1);
  equal(gate.mustWait(failed[0]), false, "held past retryAt");
  equal(gate.mustWait(failed[1]), false);
});

Deno.test("anything else arriving is set aside until a margin after the failed batch is due", () => {
  const clock = new FakeTimers();
  const gate = new RetryGate({ clock });
  const [idleTimeout] = msgs(1);
  gate.settled([idleTimeout], 1);
  const [normal] = msgs(2); // the idle pair's second event, arriving after the failure
  equal(gate.waitUntil(normal), clock.now() + retryDelay(1) + RETRY_MARGIN_MS);
  clock.advance(retryDelay(1));
  equal(gate.mustWait(idleTimeout), false, "idle_timeout is due");
  equal(gate.mustWait(normal), true, "normal let through with idle_timeout");
  equal(gate.anyMustWait([idleTimeout, normal]), true);
  clock.advance(RETRY_MARGIN_MS - 1);
  equal(gate.mustWait(normal), true, "normal let through before the margin ended");
  clock.advance(1);
  equal(gate.mustWait(normal), false);
});

Deno.test("set-aside messages are nak'd with what is left of their wait, at least 1 ms", () => {
  const clock = new FakeTimers();
  const counted: number[] = [];
  const gate = new RetryGate({ clock, onSetAside: (n) => counted.push(n) });
  const [failed] = msgs(1);
  gate.settled([failed], 1);
  clock.advance(400);
  const [newer] = msgs(2);
  gate.setAside([failed, newer]);
  deepStrictEqual(failed.settlements, [{ kind: "nak", delay: retryDelay(1) - 400 }]);
  deepStrictEqual(newer.settlements, [{
    kind: "nak",
    delay: retryDelay(1) + RETRY_MARGIN_MS - 400,
  }]);
  clock.advance(retryDelay(1) + RETRY_MARGIN_MS);
  const [late] = msgs(3);
  gate.setAside([late]);
  deepStrictEqual(late.settlements, [{ kind: "nak", delay: 1 }], "a nak without delay");
  deepStrictEqual(counted, [2, 1]);
});

Deno.test("the delay doubles with each consecutive failure from 1 s, up to 30 s", () => {
  deepStrictEqual(
    [1, 2, 3, 4, 5, 6, 7, 100].map(retryDelay),
    [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000],
  );
  const clock = new FakeTimers();
  const gate = new RetryGate({ clock });
  const waits: number[] = [];
  for (let failures = 1; failures <= 3; failures++) {
    const batch = msgs(failures);
    gate.settled(batch, failures);
    waits.push(gate.waitUntil(batch[0]) - clock.now());
    clock.advance(waits[waits.length - 1]);
  }
  deepStrictEqual(waits, [1_000, 2_000, 4_000]);
});

Deno.test("a committed batch clears its messages and the failure count", () => {
  const clock = new FakeTimers();
  const gate = new RetryGate({ clock, failures: 2 });
  const batch = msgs(1, 2);
  gate.settled(batch, 3);
  clock.advance(retryDelay(3));
  gate.settled(batch, 0);
  equal(gate.failures, 0);
  equal(gate.retrying, false);
  // Stored now: a redelivery of one of them is no longer a failed batch's message.
  equal(gate.waitUntil(batch[0]), clock.now() + RETRY_MARGIN_MS);
});

Deno.test("the failure count carried over a re-bind grows the next delay", () => {
  const clock = new FakeTimers();
  const gate = new RetryGate({ clock, failures: 2 });
  equal(gate.failures, 2);
  const batch = msgs(1);
  gate.settled(batch, gate.failures + 1);
  equal(gate.waitUntil(batch[0]) - clock.now(), retryDelay(3));
});

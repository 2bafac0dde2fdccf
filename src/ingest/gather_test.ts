import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { Arrivals } from "../testing/arrivals.ts";
import { FakeMsg } from "../testing/fake_msg.ts";
import { FakeTimers } from "../testing/fake_timers.ts";
import {
  BACKLOG_BATCH_FACTOR,
  BACKLOG_LINGER_MS,
  batchLimit,
  Gatherer,
  Linger,
  LINGER_MS,
} from "./gather.ts";
import { RETRY_MARGIN_MS, retryDelay, RetryGate } from "./retry_gate.ts";
import { nextTurn } from "./turns.ts";

/** Messages with stream sequences from `from`, the server counting `pending` down behind each. */
function delivered(from: number, count: number, pendingAfter = 0): FakeMsg[] {
  return Array.from(
    { length: count },
    (_, i) => new FakeMsg({ seq: from + i, pending: pendingAfter + count - 1 - i }),
  );
}

/** A promise's state, readable without awaiting it. */
function watch<T>(promise: Promise<T>): { value?: T } {
  const state: { value?: T } = {};
  promise.then((value) => state.value = value);
  return state;
}

/** Asserts that `watched` resolves `ms` from now on `timers`, not a millisecond sooner. */
async function endsAfter<T>(timers: FakeTimers, watched: { value?: T }, ms: number) {
  timers.advance(ms - 1);
  await nextTurn();
  ok(!("value" in watched), `ended before ${ms} ms`);
  timers.advance(1);
  await nextTurn();
  return watched.value;
}

function world(batchSize = 500) {
  const timers = new FakeTimers();
  const gate = new RetryGate({ clock: timers });
  const arrivals = new Arrivals();
  const gatherer = new Gatherer(arrivals, { batchSize, gate, timers });
  return { timers, gate, arrivals, gatherer };
}

Deno.test("a batch takes INGEST_BATCH_SIZE messages while the consumer keeps up", () => {
  equal(batchLimit(0, 500), 500);
  equal(batchLimit(120, 500), 500);
  equal(batchLimit(498, 500), 500);
});

Deno.test("behind a backlog a batch takes what is waiting, up to the factor", () => {
  equal(batchLimit(499, 500), 500, "the message in hand and the 499 behind it");
  equal(batchLimit(1_234, 500), 1_235, "a small backlog goes in one transaction");
  equal(batchLimit(1_999, 500), 2_000);
  equal(batchLimit(200_000, 500), 500 * BACKLOG_BATCH_FACTOR);
  equal(batchLimit(10, 1), 1 * BACKLOG_BATCH_FACTOR);
});

Deno.test("the linger ends only after its time without an arrival", async () => {
  const timers = new FakeTimers();
  const linger = new Linger(40, timers);
  const idle = watch(linger.idle);
  for (let i = 0; i < 6; i++) {
    timers.advance(39);
    linger.arrived();
  }
  timers.advance(39);
  await nextTurn();
  ok(!("value" in idle), "ended while arrivals came within its time");
  timers.advance(1);
  await linger.idle;
  linger.cancel();
  equal(timers.pending, 0);
});

Deno.test("one linger timer serves a whole batch of arrivals", () => {
  const timers = new FakeTimers();
  const linger = new Linger(5, timers);
  for (let i = 0; i < 2_500; i++) linger.arrived(); // a backlog batch arriving at once
  equal(timers.armed, 1, "a timer per arrival");
  timers.advance(1);
  for (let i = 0; i < 100; i++) {
    linger.arrived();
    timers.advance(1);
  }
  ok(timers.armed <= 30, `${timers.armed} timers for 100 arrivals 1 ms apart with a 5 ms linger`);
  linger.cancel();
});

Deno.test("a cancelled linger never ends and leaves no timer behind", async () => {
  const timers = new FakeTimers();
  const linger = new Linger(10, timers);
  const idle = watch(linger.idle);
  linger.cancel();
  equal(timers.pending, 0);
  timers.advance(1_000);
  await nextTurn();
  ok(!("value" in idle));
});

Deno.test("while the consumer keeps up a batch ends at the message with nothing behind it", async () => {
  const { timers, arrivals, gatherer } = world();
  const msgs = delivered(1, 3);
  arrivals.push(...msgs);
  const first = await gatherer.first();
  ok(!first.done);
  deepStrictEqual(await gatherer.batch(first.value), msgs);
  equal(timers.pending, 0, "the linger was left armed");
  equal(arrivals.asked, 3, "asked for a message nobody said was coming");
});

Deno.test("a batch stops at its limit; the next batch starts with the rest", async () => {
  const { arrivals, gatherer } = world(2);
  const msgs = delivered(1, 12, 20);
  arrivals.push(...msgs);
  const first = await gatherer.first();
  ok(!first.done);
  const batch = await gatherer.batch(first.value);
  equal(batch.length, 2 * BACKLOG_BATCH_FACTOR);
  deepStrictEqual(batch, msgs.slice(0, batch.length));
  equal((await gatherer.first()).value, msgs[batch.length]);
});

Deno.test("a pending message that does not come ends the batch after the linger, then starts the next", async () => {
  const { timers, arrivals, gatherer } = world();
  const [a, b] = delivered(1, 2);
  arrivals.push(a);
  await gatherer.first();
  const batch = watch(gatherer.batch(a));
  await nextTurn();
  deepStrictEqual(await endsAfter(timers, batch, LINGER_MS), [a]);
  arrivals.push(b);
  equal((await gatherer.first()).value, b);
  equal(arrivals.asked, 2, "the message awaited was asked for again");
});

Deno.test("behind a backlog the batch waits the longer linger", async () => {
  const { timers, arrivals, gatherer } = world(2);
  const [a] = delivered(1, 1, 7);
  arrivals.push(a);
  await gatherer.first();
  const batch = watch(gatherer.batch(a));
  deepStrictEqual(await endsAfter(timers, batch, BACKLOG_LINGER_MS), [a]);
});

Deno.test("a message that must wait is set aside on arrival; the retried batch gathers on", async () => {
  const { timers, gate, arrivals, gatherer } = world();
  const [failed] = delivered(1, 1);
  gate.settled([failed], 1);
  timers.advance(retryDelay(1));
  const newer = new FakeMsg({ seq: 2 });
  arrivals.push(failed, newer);
  await gatherer.first();
  const batch = watch(gatherer.batch(failed));
  await nextTurn();
  deepStrictEqual(newer.settlements, [{ kind: "nak", delay: RETRY_MARGIN_MS }]);
  ok(!("value" in batch), "with a failed batch being retried, nothing pending ended the batch");
  timers.advance(LINGER_MS);
  await nextTurn();
  deepStrictEqual(batch.value, [failed]);
});

Deno.test("the end of the messages ends the batch; the next batch is told at once", async () => {
  const { arrivals, gatherer } = world();
  const [a] = delivered(1, 1, 1);
  arrivals.push(a);
  arrivals.end();
  await gatherer.first();
  deepStrictEqual(await gatherer.batch(a), [a]);
  equal((await gatherer.first()).done, true);
  equal(arrivals.asked, 2);
});

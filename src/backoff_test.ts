import { equal, ok, throws } from "node:assert/strict";
import { backoffDelay, sleep } from "./backoff.ts";
import { FakeTimers } from "./testing/fake_timers.ts";

/** Runs `fn` with Math.random returning `value`. */
function withRandom<T>(value: number, fn: () => T): T {
  const original = Math.random;
  Math.random = () => value;
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}

Deno.test("without jitter the delay doubles from the base at each attempt", () => {
  const delays = [0, 1, 2, 3, 4].map((attempt) => backoffDelay(attempt, { jitter: 0 }));
  equal(delays.join(","), "250,500,1000,2000,4000");
  equal(backoffDelay(3, { baseMs: 100, jitter: 0 }), 800);
});

Deno.test("the delay never exceeds the cap, however many attempts", () => {
  equal(backoffDelay(7, { jitter: 0 }), 30_000);
  equal(backoffDelay(1_000_000, { jitter: 0 }), 30_000);
  equal(backoffDelay(5, { baseMs: 250, maxMs: 1_000, jitter: 0 }), 1_000);
  for (let i = 0; i < 200; i++) ok(backoffDelay(60, { maxMs: 15_000 }) <= 15_000);
});

Deno.test("jitter spreads the delay within ± the given share", () => {
  equal(withRandom(0, () => backoffDelay(2, { jitter: 0.2 })), 800);
  equal(withRandom(0.5, () => backoffDelay(2, { jitter: 0.2 })), 1_000);
  equal(withRandom(0.999_999_999, () => backoffDelay(2, { jitter: 0.2 })), 1_200);
  equal(withRandom(0, () => backoffDelay(2, { jitter: 1 })), 0);
});

Deno.test("jittered delays stay within bounds and are not all the same", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) {
    const delay = backoffDelay(2);
    ok(delay >= 800 && delay <= 1_200, `delay ${delay} outside 800..1200`);
    seen.add(delay);
  }
  ok(seen.size > 10, `only ${seen.size} distinct delays`);
});

Deno.test("at the cap jitter only shortens the delay", () => {
  equal(withRandom(0.999_999_999, () => backoffDelay(20)), 30_000);
  equal(withRandom(0, () => backoffDelay(20)), 24_000);
});

Deno.test("a negative, fractional or non-numeric attempt throws a RangeError naming it", () => {
  for (const attempt of [-1, 1.5, NaN, Infinity]) {
    throws(() => backoffDelay(attempt), (err: unknown) => {
      ok(err instanceof RangeError);
      equal(
        err.message,
        `'attempt' must be a non-negative integer: current value is ${attempt}`,
      );
      return true;
    });
  }
});

/** Lets every promise callback already due run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A sleep on `timers` and whether it has resolved. */
function watchSleep(ms: number, timers: FakeTimers, signal?: AbortSignal) {
  const state = { resolved: false, done: Promise.resolve() };
  state.done = sleep(ms, signal, timers).then(() => {
    state.resolved = true;
  });
  return state;
}

Deno.test("sleep resolves once its time has passed, not before", async () => {
  const timers = new FakeTimers();
  const nap = watchSleep(30, timers);
  timers.advance(29);
  await settle();
  equal(nap.resolved, false, "resolved before its time");
  timers.advance(1);
  await nap.done;
  equal(timers.pending, 0);
});

Deno.test("sleep resolves early when its signal aborts, leaving no timer behind", async () => {
  const timers = new FakeTimers();
  const controller = new AbortController();
  const nap = watchSleep(10_000, timers, controller.signal);
  await settle();
  equal(nap.resolved, false);
  controller.abort();
  await nap.done; // never resolving would fail the test: nothing else is left to run
  equal(timers.pending, 0, "the abort left its timer armed");
});

Deno.test("sleep with an already aborted signal resolves without arming a timer", async () => {
  const timers = new FakeTimers();
  await sleep(10_000, AbortSignal.abort(), timers);
  equal(timers.armed, 0);
});

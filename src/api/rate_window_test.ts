import { equal, throws } from "node:assert/strict";
import { FakeTimers } from "../testing/fake_timers.ts";
import { FixedWindowStore } from "./rate_window.ts";

Deno.test("hits count per key within a window and start again in the next one", () => {
  const clock = new FakeTimers();
  const store = new FixedWindowStore(60_000, clock);
  equal(store.increment("a").totalHits, 1);
  equal(store.increment("a").totalHits, 2);
  equal(store.increment("b").totalHits, 1, "keys are apart");
  clock.advance(45_000);
  equal(store.increment("a").totalHits, 3);
  equal(store.secondsToReset("a"), 15);
  clock.advance(15_000);
  equal(store.get("a"), undefined, "the window is over");
  equal(store.increment("a").totalHits, 1);
  equal(store.secondsToReset("a"), 60);
});

Deno.test("a decrement takes one hit back, never below zero", () => {
  const store = new FixedWindowStore(1_000, new FakeTimers());
  store.increment("a");
  store.decrement("a");
  store.decrement("a");
  equal(store.get("a")?.totalHits, 0);
  store.resetKey("a");
  equal(store.get("a"), undefined);
});

Deno.test("the window must be a positive integer", () => {
  throws(() => new FixedWindowStore(0, new FakeTimers()), /'windowMs' must be a positive integer/);
});

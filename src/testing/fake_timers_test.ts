import { deepStrictEqual, equal } from "node:assert/strict";
import { FakeTimers } from "./fake_timers.ts";

Deno.test("due callbacks run in order, each at its own time, including ones armed meanwhile", () => {
  const timers = new FakeTimers(0);
  const ran: string[] = [];
  timers.setTimeout(() => ran.push(`b@${timers.now()}`), 20);
  timers.setTimeout(() => {
    ran.push(`a@${timers.now()}`);
    timers.setTimeout(() => ran.push(`c@${timers.now()}`), 5);
  }, 10);
  timers.setTimeout(() => ran.push("late"), 31);
  timers.advance(30);
  deepStrictEqual(ran, ["a@10", "c@15", "b@20"]);
  equal(timers.now(), 30);
  equal(timers.pending, 1);
  equal(timers.armed, 4);
});

Deno.test("a cleared callback never runs", () => {
  const timers = new FakeTimers(0);
  let ran = false;
  const id = timers.setTimeout(() => ran = true, 1);
  timers.clearTimeout(id);
  timers.advance(10);
  equal(ran, false);
  equal(timers.pending, 0);
});

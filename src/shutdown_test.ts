import { equal, ok } from "node:assert/strict";
import { FakeTimers } from "./testing/fake_timers.ts";
import { cutoffReserveMs, DeadlinePassed, shutdownDeadline, ShuttingDown } from "./shutdown.ts";
import { settledBefore } from "./until_aborted.ts";

Deno.test("nothing is cut before the stop signal, however long the process runs", () => {
  const timers = new FakeTimers();
  const stop = new AbortController();
  const deadline = shutdownDeadline(stop.signal, 20_000, timers);
  timers.advance(3_600_000);
  equal(deadline.cutoff.aborted, false);
  deadline.dispose();
});

Deno.test("long responses are cut a reserve before the deadline, then the deadline passes", async () => {
  const timers = new FakeTimers();
  const stop = new AbortController();
  const deadline = shutdownDeadline(stop.signal, 20_000, timers);
  stop.abort();
  const hanging = settledBefore(new Promise<never>(() => {}), deadline.passed);
  timers.advance(14_999);
  equal(deadline.cutoff.aborted, false);
  timers.advance(1);
  ok(deadline.cutoff.reason instanceof ShuttingDown, "cut at 15 s");
  timers.advance(4_999);
  equal(await settledBefore(Promise.resolve("done"), deadline.passed), true, "work in time");
  equal(await settledBefore(Promise.reject(new Error("x")), deadline.passed), true, "failed too");
  equal(deadline.passed.aborted, false);
  timers.advance(1);
  ok(deadline.passed.reason instanceof DeadlinePassed, "the deadline at 20 s");
  equal(await hanging, false, "work still running at the deadline is given up");
  equal(
    await settledBefore(new Promise<never>(() => {}), deadline.passed),
    false,
    "after it, at once",
  );
  deadline.dispose();
});

Deno.test("the reserve is a quarter of a short deadline and 5 s of a long one", () => {
  equal(cutoffReserveMs(4_000), 1_000);
  equal(cutoffReserveMs(20_000), 5_000);
  equal(cutoffReserveMs(600_000), 5_000);
});

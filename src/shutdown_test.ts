import { equal, ok } from "node:assert/strict";
import { FakeTimers } from "./testing/fake_timers.ts";
import { cutoffReserveMs, DEADLINE_PASSED, shutdownDeadline, ShuttingDown } from "./shutdown.ts";

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
  const hanging = deadline.within(new Promise<never>(() => {}));
  timers.advance(14_999);
  equal(deadline.cutoff.aborted, false);
  timers.advance(1);
  ok(deadline.cutoff.reason instanceof ShuttingDown, "cut at 15 s");
  timers.advance(4_999);
  const finished = await deadline.within(Promise.resolve("done"));
  equal(finished, "done", "work that ends in time gives its result");
  timers.advance(1);
  equal(await hanging, DEADLINE_PASSED);
  equal(await deadline.within(new Promise<never>(() => {})), DEADLINE_PASSED, "after it, at once");
  deadline.dispose();
});

Deno.test("the reserve is a quarter of a short deadline and 5 s of a long one", () => {
  equal(cutoffReserveMs(4_000), 1_000);
  equal(cutoffReserveMs(20_000), 5_000);
  equal(cutoffReserveMs(600_000), 5_000);
});

import { deepStrictEqual, equal, rejects } from "node:assert/strict";
import { FairTurns } from "./fair_turns.ts";
import { FakeTimers } from "./testing/fake_timers.ts";

/** Lets promise jobs run (grants resolve through them). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("tenants take turns in rotation, whoever queued most", async () => {
  const timers = new FakeTimers();
  const turns = new FairTurns({ timers, pauseFactor: 0 });
  const order: string[] = [];
  const first = await turns.take("noisy");
  const steps = [
    ...["noisy", "noisy", "noisy"].map((key, i) => turns.run(key, () => order.push(`${key}${i}`))),
    turns.run("quiet", () => order.push("quiet")),
  ];
  first();
  for (let i = 0; i < 4; i++) {
    timers.advance(0);
    await settle();
  }
  await Promise.all(steps);
  deepStrictEqual(order, ["noisy0", "quiet", "noisy1", "noisy2"]);
});

Deno.test("after a step the next one waits as long as the step took, times the factor", async () => {
  const timers = new FakeTimers();
  const turns = new FairTurns({ timers, pauseFactor: 3 });
  const release = await turns.take("a");
  timers.advance(10); // the step takes 10 ms
  let granted = false;
  const next = turns.take("b").then((r) => {
    granted = true;
    return r;
  });
  release();
  timers.advance(29);
  await settle();
  equal(granted, false, "still pausing after 29 of 30 ms");
  timers.advance(1);
  await settle();
  equal(granted, true);
  (await next)();
});

Deno.test("the pause is capped", async () => {
  const timers = new FakeTimers();
  const turns = new FairTurns({ timers, pauseFactor: 1, maxPauseMs: 100 });
  const release = await turns.take("a");
  timers.advance(5_000);
  const next = turns.take("b");
  release();
  timers.advance(100);
  (await next)();
});

Deno.test("a waiter whose signal aborts leaves the queue with the signal's reason", async () => {
  const timers = new FakeTimers();
  const turns = new FairTurns({ timers });
  const release = await turns.take("a");
  const controller = new AbortController();
  const gaveUp = turns.take("b", controller.signal);
  const after = turns.take("c");
  equal(turns.waiting, 2);
  controller.abort(new Error("budget spent"));
  await rejects(gaveUp, /budget spent/);
  equal(turns.waiting, 1);
  release();
  timers.advance(0);
  (await after)();
});

import { deepStrictEqual, equal, rejects } from "node:assert/strict";
import { FairTurns, type Party } from "./fair_turns.ts";
import { FakeTimers } from "./testing/fake_timers.ts";

/** Lets promise jobs run (grants resolve through them). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A party of `key` that no one outside the turns waits on. */
const alone = (key: string): Party => ({ key });

/** Takes a turn of `party` and tells, once settled, whether it has been granted. */
function taking(turns: FairTurns, party: Party) {
  let granted = false;
  const release = turns.take(party).then((r) => {
    granted = true;
    return r;
  });
  return { release, granted: () => granted };
}

/** Asserts that `next` is granted exactly `pauseMs` after now: not 1 ms before, and then. */
async function grantedAfter(
  timers: FakeTimers,
  next: ReturnType<typeof taking>,
  pauseMs: number,
): Promise<void> {
  timers.advance(pauseMs - 1);
  await settle();
  equal(next.granted(), false, `still pausing after ${pauseMs - 1} of ${pauseMs} ms`);
  timers.advance(1);
  await settle();
  equal(next.granted(), true);
}

Deno.test("tenants take turns in rotation, whoever queued most", async () => {
  const timers = new FakeTimers();
  const turns = new FairTurns({ timers, pauseFactor: 0 });
  const order: string[] = [];
  const first = await turns.take(alone("noisy"));
  const steps = [
    ...["noisy", "noisy", "noisy"].map((key, i) =>
      turns.run(alone(key), () => order.push(`${key}${i}`))
    ),
    turns.run(alone("quiet"), () => order.push("quiet")),
  ];
  first();
  for (let i = 0; i < 4; i++) {
    timers.advance(0);
    await settle();
  }
  await Promise.all(steps);
  deepStrictEqual(order, ["noisy0", "quiet", "noisy1", "noisy2"]);
});

Deno.test("while another tenant waits, the next step waits as long as the step took, times the factor", async () => {
  const timers = new FakeTimers();
  const turns = new FairTurns({ timers, pauseFactor: 3 });
  const release = await turns.take(alone("a"));
  timers.advance(10); // the step takes 10 ms
  const next = taking(turns, alone("b"));
  release();
  await grantedAfter(timers, next, 30);
  (await next.release)();
});

Deno.test("a tenant alone runs its steps back to back, however long they take", async () => {
  const timers = new FakeTimers();
  const turns = new FairTurns({ timers, pauseFactor: 3 });
  const party = alone("a");
  for (let step = 0; step < 3; step++) {
    const release = await turns.take(party);
    timers.advance(100); // a long step
    const next = taking(turns, party); // its own next step (another export of the tenant)
    release();
    timers.advance(0);
    await settle();
    equal(next.granted(), true, `step ${step + 1}: no pause`);
    (await next.release)();
    timers.advance(0);
  }
});

Deno.test("a tenant whose work is contended from outside the turns pauses though it waits alone", async () => {
  const timers = new FakeTimers();
  const turns = new FairTurns({ timers, pauseFactor: 3 });
  let others = false;
  const party: Party = { key: "a", contended: () => others };
  const release = await turns.take(party);
  timers.advance(10);
  // A quiet request arrives during the step: asked as the step ends, not when it began.
  others = true;
  const next = taking(turns, party);
  release();
  await grantedAfter(timers, next, 30);
  // The quiet request is gone: the next step follows at once.
  others = false;
  timers.advance(10);
  const after = taking(turns, party);
  (await next.release)();
  timers.advance(0);
  await settle();
  equal(after.granted(), true);
  (await after.release)();
});

Deno.test("the pause is capped", async () => {
  const timers = new FakeTimers();
  const turns = new FairTurns({ timers, pauseFactor: 1, maxPauseMs: 100 });
  const release = await turns.take(alone("a"));
  timers.advance(5_000);
  const next = taking(turns, alone("b"));
  release();
  timers.advance(99);
  await settle();
  equal(next.granted(), false);
  timers.advance(1);
  (await next.release)();
});

Deno.test("a waiter whose signal aborts leaves the queue with the signal's reason", async () => {
  const timers = new FakeTimers();
  const turns = new FairTurns({ timers });
  const release = await turns.take(alone("a"));
  const controller = new AbortController();
  const gaveUp = turns.take(alone("b"), controller.signal);
  const after = taking(turns, alone("c"));
  controller.abort(new Error("budget spent"));
  await rejects(gaveUp, /budget spent/);
  release();
  timers.advance(0);
  await settle();
  equal(after.granted(), true, "the turn goes to c: b is no longer in the queue");
  (await after.release)();
});

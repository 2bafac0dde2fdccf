import { equal } from "node:assert/strict";
import { StoredSignal } from "./stored_signal.ts";

const HOUR = 3_600_000;

/** Whether `promise` settles before the event loop's queued work runs out. */
async function settlesAtOnce(promise: Promise<void>): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return settled;
}

Deno.test("a waiter wakes at the next announcement, not before", async () => {
  const stored = new StoredSignal();
  const waiting = stored.wait(HOUR);
  equal(await settlesAtOnce(waiting), false);
  equal(stored.waiting, 1);
  stored.notify();
  equal(await settlesAtOnce(waiting), true);
  equal(stored.waiting, 0);
});

Deno.test("rows announced while a reader read are not waited for", async () => {
  const stored = new StoredSignal();
  const seen = stored.count;
  stored.notify(); // the commit lands while the reader's query runs
  equal(await settlesAtOnce(stored.wait(HOUR, undefined, seen)), true);
  const waiting = stored.wait(HOUR, undefined, stored.count);
  equal(await settlesAtOnce(waiting), false, "nothing announced since: it waits");
  stored.notify();
  await waiting;
});

Deno.test("an abort ends the wait and leaves no waiter behind", async () => {
  const stored = new StoredSignal();
  const controller = new AbortController();
  const waiting = stored.wait(HOUR, controller.signal);
  controller.abort();
  equal(await settlesAtOnce(waiting), true);
  equal(stored.waiting, 0);
});

import { equal, ok } from "node:assert/strict";
import { sleep } from "../backoff.ts";
import { BACKLOG_BATCH_FACTOR, batchLimit, Linger } from "./pipeline.ts";

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
  const ms = 40;
  const linger = new Linger(ms);
  let idleAt: number | undefined;
  linger.idle.then(() => idleAt = performance.now());
  let lastArrival = performance.now();
  let longestGap = 0; // a busy machine can stretch a sleep past the linger, which may then end
  for (let i = 0; i < 6; i++) {
    await sleep(ms / 2);
    longestGap = Math.max(longestGap, performance.now() - lastArrival);
    if (longestGap < ms) {
      equal(idleAt, undefined, `ended ${i + 1} arrivals in, while they came every ${ms / 2} ms`);
    }
    linger.arrived();
    lastArrival = performance.now();
  }
  await linger.idle;
  ok(idleAt !== undefined && idleAt - lastArrival >= ms - 1, "ended before its time of quiet");
  linger.cancel();
});

Deno.test("a cancelled linger never ends and leaves no timer behind", async () => {
  const linger = new Linger(10);
  let ended = false;
  linger.idle.then(() => ended = true);
  linger.cancel();
  await sleep(30);
  equal(ended, false);
});

import { equal } from "node:assert/strict";
import { BACKLOG_BATCH_FACTOR, batchLimit } from "./pipeline.ts";

Deno.test("a batch takes INGEST_BATCH_SIZE messages while the consumer keeps up", () => {
  equal(batchLimit(0, 500), 500);
  equal(batchLimit(120, 500), 500);
  equal(batchLimit(498, 500), 500);
});

Deno.test("behind a backlog a batch takes what is waiting, up to the factor", () => {
  equal(batchLimit(499, 500), 500, "the message in hand and the 499 behind it");
  equal(batchLimit(1_234, 500), 1_235, "a small backlog goes in one transaction");
  equal(batchLimit(3_999, 500), 4_000);
  equal(batchLimit(200_000, 500), 500 * BACKLOG_BATCH_FACTOR);
  equal(batchLimit(10, 1), 1 * BACKLOG_BATCH_FACTOR);
});

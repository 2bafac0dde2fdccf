import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { BATCH_SIZE_BUCKETS, DURATION_BUCKETS, Histogram, LAG_BUCKETS } from "./histogram.ts";

Deno.test("the buckets are the decimal bounds they render as", () => {
  // Each bound equals its literal, so `le` reads 0.0025, never 0.0025000000000000005.
  deepStrictEqual(DURATION_BUCKETS, [
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
  ]);
  deepStrictEqual(LAG_BUCKETS.slice(0, 10), DURATION_BUCKETS.slice(3));
  deepStrictEqual(LAG_BUCKETS.slice(10), [30, 60, 300, 900, 3600, 10800, 21600, 43200, 86400]);
  deepStrictEqual(BATCH_SIZE_BUCKETS, [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]);
});

Deno.test("an observation counts in the first bucket whose bound is at or above it", () => {
  const h = new Histogram([0.1, 1, 10]);
  for (const v of [0, 0.1, 0.2, 1, 5, 10, 10.5, 1e9]) h.observe(v);
  deepStrictEqual(h.render("x_seconds", ""), [
    'x_seconds_bucket{le="0.1"} 2',
    'x_seconds_bucket{le="1"} 4',
    'x_seconds_bucket{le="10"} 6',
    'x_seconds_bucket{le="+Inf"} 8',
    "x_seconds_sum 1000000026.8",
    "x_seconds_count 8",
  ]);
  equal(h.count, 8);
});

Deno.test("a histogram with no observation renders every bucket at 0", () => {
  deepStrictEqual(new Histogram([1]).render("y", 'a="b"'), [
    'y_bucket{a="b",le="1"} 0',
    'y_bucket{a="b",le="+Inf"} 0',
    'y_sum{a="b"} 0',
    'y_count{a="b"} 0',
  ]);
});

Deno.test("NaN is not counted and leaves the sum a number", () => {
  const h = new Histogram([1]);
  h.observe(NaN);
  h.observe(0.5);
  equal(h.count, 1);
  equal(h.sum, 0.5);
});

Deno.test("bounds must be finite and strictly ascending, naming the bounds given", () => {
  throws(() => new Histogram([]), /'bounds' must not be empty/);
  throws(() => new Histogram([1, 1]), /strictly ascending: current value is \[1, 1\]/);
  throws(() => new Histogram([2, 1]), /current value is \[2, 1\]/);
  throws(() => new Histogram([1, Infinity]), /finite/);
});

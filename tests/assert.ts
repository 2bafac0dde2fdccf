/**
 * Minimal assertions for the tests (no std library is reachable here).
 *
 * @module
 */
import { deepStrictEqual } from "node:assert/strict";

/** Throws when `condition` is falsy. */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

/** Throws when `actual` and `expected` differ structurally. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

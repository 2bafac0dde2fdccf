/**
 * The few assertions the tests need (no std library is reachable here:
 * npm only), on top of `node:assert/strict`.
 *
 * @module
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";

/** Throws when `condition` is falsy. */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  ok(condition, message);
}

/** Throws when `actual` and `expected` differ structurally. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

/** Throws when `text` does not match `pattern`. */
export function assertMatch(text: string, pattern: RegExp, message?: string): void {
  match(text, pattern, message);
}

/**
 * The few assertions the read-API tests need (no @std/assert here: npm only).
 *
 * @module
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";

/** Asserts `actual` deep-equals `expected`. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

/** Asserts `value` is truthy. */
export function assert(value: unknown, message?: string): asserts value {
  ok(value, message);
}

/** Asserts `text` matches `pattern`. */
export function assertMatch(text: string, pattern: RegExp, message?: string): void {
  match(text, pattern, message);
}

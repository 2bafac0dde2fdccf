/**
 * The path parameters of the read API: the patterns their routes are
 * constrained to (so `/:session_id` never takes a sibling route's name),
 * the valibot schemas that describe them in the OpenAPI document, and the
 * 400 answer for a path segment that fits no pattern.
 *
 * @module
 */
import type { Handler } from "hono";
import * as v from "valibot";
import { invalidParameter } from "./errors.ts";
import { uuid } from "./query_values.ts";

/** A UUID in any letter case, as a route pattern: what `v.uuid()` accepts. */
export const UUID_PATTERN = "[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}";

/** A dead letter's id, as a route pattern: a positive integer of at most 15 digits. */
export const DEAD_LETTER_ID_PATTERN = "[1-9][0-9]{0,14}";

/** `session_id` in a route path, constrained to {@linkcode UUID_PATTERN}. */
export const SESSION_ID_PARAM = `:session_id{${UUID_PATTERN}}`;

/** `id` of a dead letter in a route path, constrained to {@linkcode DEAD_LETTER_ID_PATTERN}. */
export const DEAD_LETTER_ID_PARAM = `:id{${DEAD_LETTER_ID_PATTERN}}`;

/** A session id from the path: a UUID, lower-cased (what {@linkcode SESSION_ID_PARAM} admits). */
export const SessionIdSchema = uuid;

/** A dead-letter id from the path: a positive integer (what {@linkcode DEAD_LETTER_ID_PARAM} admits). */
export const DeadLetterIdSchema = v.pipe(
  v.string(),
  v.regex(new RegExp(`^${DEAD_LETTER_ID_PATTERN}$`), "must be a positive integer"),
  v.transform(Number),
);

/**
 * A handler that answers 400 naming `param`, for the unconstrained twin of
 * a constrained route: registered after every route, it answers only a
 * segment that no route took (`/v1/session-ends/not-a-uuid`).
 */
export function malformedPathParameter(param: string, rule: string): Handler {
  return function malformedParameter() {
    throw invalidParameter(param, `${param} ${rule}`);
  };
}

/**
 * The values a query parameter of the read API may take, as valibot
 * schemas over the parameter's text: UUIDs, RFC 3339 times, reasons, page
 * sizes and opaque signed tokens, and the rule that `since` comes before
 * `until`.
 *
 * @module
 */
import * as v from "valibot";
import { MAX_REASON_LENGTH, reasonProblem } from "../secondary_fields.ts";
import { parseRfc3339 } from "../rfc3339.ts";
import { MAX_CURSOR_LENGTH } from "./cursor.ts";

/** How clients should write a parameter whose schema reads its text (OpenAPI). */
const WIRE_FORMS = new WeakMap<object, Record<string, unknown>>();

/**
 * The JSON Schema of the text a client sends for `schema`, when the
 * schema's own conversion cannot say it (it parses the text with a
 * transform): e.g. an integer for a page size.
 */
export function wireForm(schema: object): Record<string, unknown> | undefined {
  return WIRE_FORMS.get(schema);
}

/**
 * Records `form` for `pipe`. The JSON Schema converter calls its override
 * with the pipe's first schema, so that is the key.
 */
function withWireForm<T extends { pipe: readonly object[] }>(
  pipe: T,
  form: Record<string, unknown>,
): T {
  WIRE_FORMS.set(pipe.pipe[0], form);
  return pipe;
}

/** A UUID in any letter case, lower-cased. */
export const uuid = v.pipe(
  v.string(),
  v.uuid("must be a UUID"),
  v.toLowerCase(),
);

/** An RFC 3339 time, checked strictly, as epoch milliseconds. */
export const time = withWireForm(
  v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const millis = parseRfc3339(dataset.value);
      if (millis === undefined) {
        addIssue({
          message: "must be an RFC 3339 time such as 2026-03-12T10:00:00Z",
        });
        return NEVER;
      }
      return millis;
    }),
  ),
  { type: "string", format: "date-time" },
);

/** A `reason` as the ingest path stores it: 1 to 64 characters, no control character. */
export const reason = v.pipe(
  v.string(),
  v.check(
    (text) => text !== "" && reasonProblem(text) === undefined,
    `must be a reason: 1 to ${MAX_REASON_LENGTH} characters, no control character`,
  ),
);

/** A page size from 1 to `max`, given as decimal digits. */
export function pageSize(max: number) {
  const message = `must be an integer from 1 to ${max}`;
  return withWireForm(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,4}$/, message),
      v.transform(Number),
      v.number(),
      v.minValue(1, message),
      v.maxValue(max, message),
    ),
    { type: "integer", minimum: 1, maximum: max },
  );
}

/** The shape of an opaque signed token (`payload.mac`) named `what`, not yet verified. */
export function opaqueToken(what: string) {
  const message = `is not a ${what} this API issued`;
  return v.pipe(
    v.string(),
    v.maxLength(MAX_CURSOR_LENGTH, message),
    v.regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, message),
  );
}

/** False when `since` and `until` are both given and `since` is not before `until`. */
export function sinceBeforeUntil({ since, until }: { since?: number; until?: number }): boolean {
  return since === undefined || until === undefined || since < until;
}

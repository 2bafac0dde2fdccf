/**
 * Reading one environment variable: a blank value counts as unset, and a
 * value is checked against a valibot schema, a bad one becoming a one-line
 * {@linkcode ConfigError} that names the variable and quotes the value.
 *
 * @module
 */
import * as v from "valibot";
import { ConfigError } from "./config_error.ts";

/** The environment, as `Deno.env.toObject()` gives it. */
export type Env = Record<string, string | undefined>;

/** The trimmed value of `name`, or undefined when it is unset or blank. */
export function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === "" ? undefined : value;
}

/** A value as an error message quotes it (JSON, at most 80 characters). */
export function quoted(value: string): string {
  return JSON.stringify(value.length > 80 ? value.slice(0, 77) + "..." : value);
}

/** Validates one variable with a valibot schema, turning the first issue into a ConfigError. */
export function check<T>(
  name: string,
  raw: string,
  schema: v.GenericSchema<string, T>,
): T {
  const result = v.safeParse(schema, raw);
  if (!result.success) {
    throw new ConfigError(
      name,
      `${result.issues[0].message}: current value is ${quoted(raw)}`,
    );
  }
  return result.output;
}

/** A whole number from `min` to `max`; `what` says so in the error. */
export function integerIn(min: number, max: number, what: string) {
  return v.pipe(
    v.string(),
    v.regex(/^\d+$/, `must be ${what}`),
    v.transform(Number),
    v.number(),
    v.minValue(min, `must be ${what}`),
    v.maxValue(max, `must be ${what}`),
  );
}

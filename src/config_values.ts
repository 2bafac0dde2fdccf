/**
 * The readers of environment variables, one per kind of value (a whole
 * number within bounds, a share, one of a few words, text of a given form,
 * a secret, a URL, a comma-separated list): a blank value counts as unset,
 * and a bad one becomes a one-line {@linkcode ConfigError} that names the
 * variable and quotes the value (a secret only by its length).
 *
 * @module
 */
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

/** A URL with its user-info (`user:password@`) masked, for error messages. */
export function withoutCredentials(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, "$1***@");
}

/** Bounds and wording of {@linkcode integer}. */
export interface IntegerOptions {
  /** The value when the variable is unset. */
  fallback: number;
  /** Smallest value accepted. */
  min: number;
  /** Largest value accepted. */
  max: number;
  /**
   * What the number counts, as the error says it ("seconds", "milliseconds").
   * @default {"an integer"}
   */
  unit?: string;
  /** A hint the error adds in parentheses, e.g. what 0 means. */
  note?: string;
}

/** A whole number from `min` to `max`, written in decimal digits. */
export function integer(env: Env, name: string, options: IntegerOptions): number {
  const raw = read(env, name);
  if (raw === undefined) return options.fallback;
  const n = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= options.min && n <= options.max)) {
    const note = options.note ? ` (${options.note})` : "";
    throw new ConfigError(
      name,
      `must be ${
        options.unit ?? "an integer"
      } from ${options.min} to ${options.max}${note}: current value is ${quoted(raw)}`,
    );
  }
  return n;
}

/** A number from 0 to 1 (`0.25`, `.5`, `1`). */
export function share(env: Env, name: string, fallback: number): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!/^(?:0|1|0?\.\d+|1\.0+)$/.test(raw)) {
    throw new ConfigError(name, `must be a number from 0 to 1: current value is ${quoted(raw)}`);
  }
  return Number(raw);
}

/** One of `choices`, in any case; `fallback` when unset. */
export function oneOf<T extends string>(
  env: Env,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const choice = choices.find((c) => c === raw.toLowerCase());
  if (choice === undefined) {
    throw new ConfigError(
      name,
      `must be one of ${choices.join(", ")}: current value is ${quoted(raw)}`,
    );
  }
  return choice;
}

/** `raw` when it matches `pattern`; else a ConfigError saying it must be `what`. */
export function matching(name: string, raw: string, pattern: RegExp, what: string): string {
  if (!pattern.test(raw)) {
    throw new ConfigError(name, `must be ${what}: current value is ${quoted(raw)}`);
  }
  return raw;
}

/** `value` when it has at least `minLength` characters; the error gives its length only. */
export function longEnough(name: string, value: string, minLength: number): string {
  if (value.length < minLength) {
    throw new ConfigError(
      name,
      `must be at least ${minLength} characters: current length is ${value.length}`,
    );
  }
  return value;
}

/**
 * A secret of at least `minLength` characters, taken as given (not
 * trimmed); undefined when unset or empty.
 */
export function secret(env: Env, name: string, minLength: number): string | undefined {
  const value = env[name] || undefined;
  return value === undefined ? undefined : longEnough(name, value, minLength);
}

/**
 * `raw` as a URL whose scheme is one of `schemes` (`"https:"`); errors
 * quote it without its credentials and may end with a `hint`.
 */
export function url(name: string, raw: string, schemes: readonly string[], hint = ""): URL {
  let parsed: URL | undefined;
  try {
    parsed = new URL(raw);
  } catch {
    // reported below
  }
  if (parsed === undefined || !schemes.includes(parsed.protocol)) {
    const starts = schemes.map((s) => s === "file:" ? s : `${s}//`).join(", ");
    throw new ConfigError(
      name,
      `must be a URL starting with ${starts}${hint}: current value is ${
        quoted(withoutCredentials(raw))
      }`,
    );
  }
  return parsed;
}

/**
 * A comma-separated list, each item trimmed and checked by `item`;
 * undefined when unset. A value that names no item is an error.
 */
export function list<T>(
  env: Env,
  name: string,
  item: (name: string, item: string) => T,
): T[] | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  const items = raw.split(",").map((i) => i.trim()).filter(Boolean);
  if (items.length === 0) {
    throw new ConfigError(name, `names nothing: current value is ${quoted(raw)}`);
  }
  return items.map((i) => item(name, i));
}

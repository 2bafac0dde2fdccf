/**
 * The one assertion of configuration tests: an environment that stops
 * start-up, with the one-line error that names the variable.
 *
 * @module
 */
import { equal, fail, ok } from "node:assert/strict";
import { ConfigError, loadConfig } from "../config.ts";
import type { Env } from "../config_values.ts";

/**
 * Loads `env` expecting a {@linkcode ConfigError} for `variable`: one line
 * that starts with the variable's name and, when `value` is given, quotes
 * it. Returns the error for further checks.
 */
export function rejects(env: Env, variable: string, value?: string): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    equal(err.variable, variable, err.message);
    ok(err.message.startsWith(`${variable}: `), err.message);
    ok(!/[\r\n]/.test(err.message), `message spans several lines: ${JSON.stringify(err.message)}`);
    if (value !== undefined) ok(err.message.includes(JSON.stringify(value)), err.message);
    return err;
  }
  fail(`expected ${JSON.stringify(env)} to be rejected`);
}

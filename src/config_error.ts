/**
 * The error of a configuration value that stops start-up.
 *
 * @module
 */

/** A configuration value that stops start-up; its message is one line naming the variable. */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

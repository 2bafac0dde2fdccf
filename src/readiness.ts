/**
 * What `/readyz` reports: the state of each dependency, set by the parts
 * that observe it and read by the HTTP handler.
 *
 * @module
 */

/** A dependency whose state is tracked. */
export type Dependency = "nats" | "consumer" | "database";

/** Tracks, per dependency, whether it is usable and why not. */
export class Readiness {
  readonly #problems = new Map<Dependency, string>();

  /** Starts with every tracked dependency not ready and a reason for each. */
  constructor(initial: Partial<Record<Dependency, string>> = {}) {
    for (const [dep, reason] of Object.entries(initial)) {
      this.#problems.set(dep as Dependency, reason as string);
    }
  }

  /** Marks a dependency usable. */
  ok(dep: Dependency): void {
    this.#problems.delete(dep);
  }

  /** Marks a dependency unusable, with a reason an operator can act on. */
  fail(dep: Dependency, reason: string): void {
    this.#problems.set(dep, reason);
  }

  /** The current problems, empty when ready. */
  problems(): Record<string, string> {
    return Object.fromEntries(this.#problems);
  }

  /** True when nothing is wrong. */
  get ready(): boolean {
    return this.#problems.size === 0;
  }
}

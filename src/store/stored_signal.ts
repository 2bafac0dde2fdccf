/**
 * A tiny in-process broadcaster: the ingest loop announces "rows were
 * committed", and live feeds waiting for new rows wake up at once instead of
 * at their next poll.
 *
 * @module
 */
import { systemTimers, type Timers } from "../clock.ts";

/** Wakes every waiter when rows are stored. */
export class StoredSignal {
  readonly #waiters = new Set<() => void>();
  readonly #timers: Timers;
  #count = 0;

  /** @param timers The timers of {@linkcode StoredSignal.wait}'s timeout. @default systemTimers */
  constructor(timers: Timers = systemTimers) {
    this.#timers = timers;
  }

  /**
   * How many times rows were announced. A reader takes it before reading
   * and passes it to {@linkcode wait}, so rows announced while it read are
   * not waited for.
   */
  get count(): number {
    return this.#count;
  }

  /** Announces that a write transaction committed new rows. */
  notify(): void {
    this.#count++;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /**
   * Resolves at the next {@linkcode notify}, after `timeoutMs`, or when
   * `signal` aborts, whichever comes first; at once when rows were
   * announced since {@linkcode count} was `seen`. Never rejects.
   */
  wait(timeoutMs: number, signal?: AbortSignal, seen?: number): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted || (seen !== undefined && seen !== this.#count)) return resolve();
      const done = () => {
        this.#timers.clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = this.#timers.setTimeout(done, timeoutMs);
      signal?.addEventListener("abort", done, { once: true });
      this.#waiters.add(done);
    });
  }

  /** Live waiters (for tests and metrics). */
  get waiting(): number {
    return this.#waiters.size;
  }
}

/**
 * A tiny in-process broadcaster: the ingest loop announces "rows were
 * committed", and live feeds waiting for new rows wake up at once instead of
 * at their next poll.
 *
 * @module
 */

/** Wakes every waiter when rows are stored. */
export class StoredSignal {
  readonly #waiters = new Set<() => void>();

  /** Announces that a write transaction committed new rows. */
  notify(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /**
   * Resolves at the next {@linkcode notify}, after `timeoutMs`, or when
   * `signal` aborts, whichever comes first. Never rejects.
   */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener("abort", done, { once: true });
      this.#waiters.add(done);
    });
  }

  /** Live waiters (for tests and metrics). */
  get waiting(): number {
    return this.#waiters.size;
  }
}

/**
 * Fair turns at a shared resource: one step at a time, keys (tenants)
 * served in rotation, and a pause after each step in proportion to the time
 * the step took (at most `maxPauseMs`), so that steps get at most a set
 * share of the resource.
 * The read API takes turns for its bulk work on the JavaScript thread
 * (encoding an export page, a live feed's batch, hashing an integrity
 * walk's chunk) and for heavy queries on the database reader's thread:
 * however much one tenant asks for, another tenant's step waits for at most
 * one step of each other tenant, and small requests and ingest keep the
 * other half.
 *
 * @module
 */
import { systemTimers, type Timers } from "./clock.ts";

/** Gives a turn back; later calls do nothing. */
export type Release = () => void;

/** Options of {@linkcode FairTurns}. */
export interface FairTurnsOptions {
  /**
   * Where steps and pauses are timed.
   * @default systemTimers
   */
  timers?: Timers;
  /**
   * The pause after a step, as a multiple of the step's time: steps then get
   * at most `1 / (1 + pauseFactor)` of the resource.
   * @default 1
   */
  pauseFactor?: number;
  /**
   * The longest pause after a step, ms.
   * @default 1000
   */
  maxPauseMs?: number;
}

/** Round-robin turns, one at a time, per key. */
export class FairTurns {
  /** Waiters per key, keys in the order they will be served. */
  readonly #queues = new Map<string, Array<() => void>>();
  readonly #timers: Timers;
  readonly #maxPauseMs: number;
  readonly #pauseFactor: number;
  /** Busy from a grant until the pause after its release is over. */
  #busy = false;

  constructor(options: FairTurnsOptions = {}) {
    this.#timers = options.timers ?? systemTimers;
    this.#maxPauseMs = options.maxPauseMs ?? 1_000;
    this.#pauseFactor = options.pauseFactor ?? 1;
  }

  /** Steps waiting, all keys together. */
  get waiting(): number {
    let n = 0;
    for (const queue of this.#queues.values()) n += queue.length;
    return n;
  }

  /**
   * Resolves when `key` may run one step; call the release once the step is
   * done. Rejects with `signal.reason` if `signal` aborts while it waits.
   */
  take(key: string, signal?: AbortSignal): Promise<Release> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const grant = () => {
        this.#busy = true;
        const started = this.#timers.now();
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          // Pending I/O (other requests) runs during the pause, even one of 0 ms.
          this.#timers.setTimeout(() => {
            this.#busy = false;
            this.#next();
          }, Math.min(this.#maxPauseMs, (this.#timers.now() - started) * this.#pauseFactor));
        });
      };
      if (!this.#busy && this.#queues.size === 0) return grant();
      const waiter = () => {
        signal?.removeEventListener("abort", giveUp);
        grant();
      };
      const giveUp = () => {
        const queue = this.#queues.get(key) ?? [];
        queue.splice(queue.indexOf(waiter), 1);
        if (queue.length === 0) this.#queues.delete(key);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", giveUp, { once: true });
      const queue = this.#queues.get(key);
      if (queue) queue.push(waiter);
      else this.#queues.set(key, [waiter]);
    });
  }

  /** Serves the first waiter of the key at the front, which then goes to the back. */
  #next(): void {
    if (this.#busy) return;
    const first = this.#queues.entries().next();
    if (first.done) return;
    const [key, queue] = first.value;
    const grant = queue.shift()!;
    this.#queues.delete(key);
    if (queue.length > 0) this.#queues.set(key, queue);
    grant();
  }

  /** Runs `step` in a turn of `key`. */
  async run<T>(key: string, step: () => Promise<T> | T): Promise<T> {
    const release = await this.take(key);
    try {
      return await step();
    } finally {
      release();
    }
  }
}

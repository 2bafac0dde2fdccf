/**
 * Fair turns at a shared resource: one step at a time, parties (tenants)
 * served in rotation by key, and, under contention only, a pause after each
 * step in proportion to the time the step took (at most `maxPauseMs`), so
 * that steps then get at most a set share of the resource. A party is
 * contended when a party of another key waits for a turn, or when it says
 * so (others are waiting outside the turns: src/api/activity.ts); a party alone
 * runs its steps back to back.
 * The read API takes turns for its bulk work on the JavaScript thread
 * (encoding an export page, a live feed's batch, hashing an integrity
 * walk's chunk) and for heavy queries on the database reader's thread:
 * however much one tenant asks for, another tenant's step waits for at most
 * one step of each other tenant, and small requests keep the rest.
 *
 * @module
 */
import { systemTimers, type Timers } from "./clock.ts";

/** Gives a turn back; later calls do nothing. */
export type Release = () => void;

/** Who takes a turn. */
export interface Party {
  /** Parties are served in rotation by key (the tenant). */
  key: string;
  /**
   * Whether others outside the turns are waiting on what the turns share:
   * asked as each step ends, to decide whether it pauses.
   * @default {() => false}
   */
  contended?: () => boolean;
}

/** A party that speaks for everyone: key `*`, never contended from outside. */
export const ANYONE: Party = { key: "*" };

/** Options of {@linkcode FairTurns}. */
export interface FairTurnsOptions {
  /**
   * Where steps and pauses are timed.
   * @default systemTimers
   */
  timers?: Timers;
  /**
   * The pause after a contended step, as a multiple of the step's time:
   * contended steps get at most `1 / (1 + pauseFactor)` of the resource.
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

  /** Whether a party of another key than `key` waits for a turn. */
  #othersQueued(key: string): boolean {
    for (const queued of this.#queues.keys()) if (queued !== key) return true;
    return false;
  }

  /**
   * Resolves when `party` may run one step; call the release once the step
   * is done. Rejects with `signal.reason` if `signal` aborts while it waits.
   */
  take(party: Party, signal?: AbortSignal): Promise<Release> {
    const { key } = party;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const grant = () => {
        this.#busy = true;
        const started = this.#timers.now();
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          const contended = this.#othersQueued(key) || (party.contended?.() ?? false);
          const pause = contended
            ? Math.min(this.#maxPauseMs, (this.#timers.now() - started) * this.#pauseFactor)
            : 0;
          // Pending I/O (other requests) runs before the next step, even after a pause of 0 ms.
          this.#timers.setTimeout(() => {
            this.#busy = false;
            this.#next();
          }, pause);
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

  /** Runs `step` in a turn of `party`. */
  async run<T>(party: Party, step: () => Promise<T> | T): Promise<T> {
    const release = await this.take(party);
    try {
      return await step();
    } finally {
      release();
    }
  }
}

/**
 * A clock and timers for tests that move only when told to, so that a
 * time-dependent rule is tested without sleeps or wall-clock bounds.
 *
 * @module
 */
import type { Timers } from "../clock.ts";

interface Pending {
  id: number;
  at: number;
  callback: () => void;
}

/** {@linkcode Timers} whose time advances only by {@linkcode FakeTimers.advance}. */
export class FakeTimers implements Timers {
  #now: number;
  #nextId = 1;
  #pending: Pending[] = [];
  #armed = 0;

  /** Starts the clock at `start` ms. @default 1_000_000 */
  constructor(start = 1_000_000) {
    this.#now = start;
  }

  /** The current fake time, ms. */
  now(): number {
    return this.#now;
  }

  /** Arms a callback for `ms` from now. */
  setTimeout(callback: () => void, ms: number): number {
    const id = this.#nextId++;
    this.#pending.push({ id, at: this.#now + Math.max(0, ms), callback });
    this.#armed++;
    return id;
  }

  /** Disarms a callback that has not run. */
  clearTimeout(id: number | undefined): void {
    this.#pending = this.#pending.filter((timer) => timer.id !== id);
  }

  /** Timers armed and not yet run or cleared. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Timers armed since this object was made, run or not. */
  get armed(): number {
    return this.#armed;
  }

  /**
   * Moves time forward by `ms`, running every callback that falls due on
   * the way at its own time, in order (including ones armed meanwhile).
   */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#pending.filter((timer) => timer.at <= end);
      if (due.length === 0) break;
      const first = due.reduce((a, b) => (b.at < a.at || (b.at === a.at && b.id < a.id) ? b : a));
      this.#pending = this.#pending.filter((timer) => timer !== first);
      this.#now = first.at;
      first.callback();
    }
    this.#now = end;
  }
}

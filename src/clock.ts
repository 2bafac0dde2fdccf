/**
 * The clock and timers that time-dependent rules take as a parameter, so
 * that their tests can drive time instead of waiting for it.
 *
 * @module
 */

/** A source of the current time, in milliseconds. */
export interface Clock {
  /** The current time, ms (only differences between two readings mean anything). */
  now(): number;
}

/** A clock that can also call back once a delay has passed on it. */
export interface Timers extends Clock {
  /** Calls `callback` once `ms` have passed; returns an id for {@linkcode Timers.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): number;
  /** Cancels a callback that has not run yet; does nothing for one that has. */
  clearTimeout(id: number | undefined): void;
}

/** The wall clock: `Date.now()`. */
export const wallClock: Clock = { now: () => Date.now() };

/** The monotonic clock (`performance.now()`) and the runtime's timers. */
export const systemTimers: Timers = {
  now: () => performance.now(),
  // A timer handle converts to a number id that clearTimeout accepts, as in Node.
  setTimeout: (callback, ms) => Number(setTimeout(callback, ms)),
  clearTimeout: (id) => clearTimeout(id),
};

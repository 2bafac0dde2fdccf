/**
 * The counter behind the rate limit per tenant: requests per fixed window
 * of time, per key, on an injected clock, in the store shape that
 * hono-rate-limiter takes. Nothing runs in the background: a key whose
 * window is over starts a new one when it is next counted, and keys left
 * idle are swept while counting.
 *
 * @module
 */
import type { ClientRateLimitInfo } from "hono-rate-limiter";
import type { Clock } from "../clock.ts";

interface Window {
  hits: number;
  /** When the window ends, on the clock. */
  endsAt: number;
}

/** Keys kept before idle ones are swept. */
const SWEEP_AT = 10_000;

/** Hits per key in fixed windows of `windowMs`. */
export class FixedWindowStore {
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #windows = new Map<string, Window>();

  constructor(windowMs: number, clock: Clock) {
    if (!(Number.isInteger(windowMs) && windowMs > 0)) {
      throw new RangeError(`'windowMs' must be a positive integer: current value is ${windowMs}`);
    }
    this.#windowMs = windowMs;
    this.#clock = clock;
  }

  #current(key: string): Window {
    const now = this.#clock.now();
    let window = this.#windows.get(key);
    if (window === undefined || window.endsAt <= now) {
      if (this.#windows.size >= SWEEP_AT) this.#sweep(now);
      window = { hits: 0, endsAt: now + this.#windowMs };
      this.#windows.set(key, window);
    }
    return window;
  }

  #sweep(now: number): void {
    for (const [key, window] of this.#windows) {
      if (window.endsAt <= now) this.#windows.delete(key);
    }
  }

  #info(window: Window): ClientRateLimitInfo {
    // hono-rate-limiter reads the reset time on the wall clock.
    return {
      totalHits: window.hits,
      resetTime: new Date(Date.now() + (window.endsAt - this.#clock.now())),
    };
  }

  /** Counts one hit of `key`. */
  increment(key: string): ClientRateLimitInfo {
    const window = this.#current(key);
    window.hits++;
    return this.#info(window);
  }

  /** Takes one hit of `key` back. */
  decrement(key: string): void {
    const window = this.#windows.get(key);
    if (window && window.hits > 0) window.hits--;
  }

  /** The hits of `key` in its current window. */
  get(key: string): ClientRateLimitInfo | undefined {
    const window = this.#windows.get(key);
    return window && window.endsAt > this.#clock.now() ? this.#info(window) : undefined;
  }

  /** Forgets `key`. */
  resetKey(key: string): void {
    this.#windows.delete(key);
  }

  /** Seconds until `key`'s window ends (0 when it has none). */
  secondsToReset(key: string): number {
    const window = this.#windows.get(key);
    return window ? Math.max(0, (window.endsAt - this.#clock.now()) / 1000) : 0;
  }
}

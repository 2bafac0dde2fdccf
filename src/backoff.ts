/**
 * Growing delays with jitter, and a sleep that an abort signal cuts short.
 *
 * @module
 */
import { systemTimers, type Timers } from "./clock.ts";

/** Options for {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /** Delay of the first retry, ms. @default 250 */
  baseMs?: number;
  /** Ceiling, ms. @default 30000 */
  maxMs?: number;
  /** Share of the delay randomised, 0..1. @default 0.2 */
  jitter?: number;
}

/**
 * The delay before retry number `attempt` (0-based): `baseMs · 2^attempt`,
 * capped at `maxMs`, with ± `jitter` randomness.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
): number {
  const { baseMs = 250, maxMs = 30_000, jitter = 0.2 } = options;
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(
      `'attempt' must be a non-negative integer: current value is ${attempt}`,
    );
  }
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  const spread = raw * jitter * (Math.random() * 2 - 1);
  return Math.max(0, Math.round(Math.min(maxMs, raw + spread)));
}

/**
 * Resolves after `ms` on `timers`, or at once when `signal` aborts. Never
 * rejects.
 *
 * @param timers Whose time to wait on. @default systemTimers
 */
export function sleep(
  ms: number,
  signal?: AbortSignal,
  timers: Timers = systemTimers,
): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      timers.clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = timers.setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

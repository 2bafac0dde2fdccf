/**
 * The shutdown deadline (`SHUTDOWN_DEADLINE_SECONDS`): from the stop
 * signal, long responses (exports, integrity walks, heavy queries) may go on
 * until the cut-off, a reserve before the deadline, and are then cut so that
 * ingest, NATS and the database can finish closing; at the deadline the
 * process stops waiting for anything still open.
 *
 * @module
 */
import { systemTimers, type Timers } from "./clock.ts";

/** The process is shutting down and cut a long response. */
export class ShuttingDown extends Error {
  constructor() {
    super("the service is shutting down");
    this.name = "ShuttingDown";
  }
}

/** Returned by {@linkcode ShutdownDeadline.within} when the deadline passed first. */
export const DEADLINE_PASSED: unique symbol = Symbol("deadline passed");

/** The time the stop signal's work has left. */
export interface ShutdownDeadline {
  /** Aborted (with a {@linkcode ShuttingDown}) at the cut-off: long responses end. */
  readonly cutoff: AbortSignal;
  /** `work`'s result, or {@linkcode DEADLINE_PASSED} once the deadline has passed. */
  within<T>(work: Promise<T>): Promise<T | typeof DEADLINE_PASSED>;
  /** Stops the timers (after the process has closed everything). */
  dispose(): void;
}

/** The reserve before the deadline for closing: a quarter of it, at most 5 s. */
export function cutoffReserveMs(deadlineMs: number): number {
  return Math.min(5_000, Math.floor(deadlineMs / 4));
}

/**
 * Starts counting when `stop` aborts: the cut-off comes at
 * `deadlineMs - cutoffReserveMs(deadlineMs)`, the deadline at `deadlineMs`.
 *
 * @param timers Where the time is measured. @default systemTimers
 */
export function shutdownDeadline(
  stop: AbortSignal,
  deadlineMs: number,
  timers: Timers = systemTimers,
): ShutdownDeadline {
  if (!(Number.isInteger(deadlineMs) && deadlineMs > 0)) {
    throw new RangeError(`'deadlineMs' must be a positive integer: current value is ${deadlineMs}`);
  }
  const cutoff = new AbortController();
  let passed = false;
  const waiters = new Set<() => void>();
  const ids: number[] = [];
  const start = () => {
    ids.push(
      timers.setTimeout(
        () => cutoff.abort(new ShuttingDown()),
        deadlineMs - cutoffReserveMs(deadlineMs),
      ),
      timers.setTimeout(() => {
        passed = true;
        for (const wake of waiters) wake();
        waiters.clear();
      }, deadlineMs),
    );
  };
  if (stop.aborted) start();
  else stop.addEventListener("abort", start, { once: true });
  return {
    cutoff: cutoff.signal,
    within<T>(work: Promise<T>) {
      if (passed) return Promise.resolve(DEADLINE_PASSED);
      let wake = () => {};
      const deadline = new Promise<typeof DEADLINE_PASSED>((resolve) => {
        wake = () => resolve(DEADLINE_PASSED);
        waiters.add(wake);
      });
      return Promise.race([work, deadline]).finally(() => waiters.delete(wake));
    },
    dispose() {
      stop.removeEventListener("abort", start);
      for (const id of ids) timers.clearTimeout(id);
    },
  };
}

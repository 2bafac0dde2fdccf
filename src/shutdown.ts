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

/** The reason of {@linkcode ShutdownDeadline.passed}: the process stops waiting. */
export class DeadlinePassed extends Error {
  constructor() {
    super("the shutdown deadline has passed");
    this.name = "DeadlinePassed";
  }
}

/** The time the stop signal's work has left. */
export interface ShutdownDeadline {
  /** Aborted (with a {@linkcode ShuttingDown}) at the cut-off: long responses end. */
  readonly cutoff: AbortSignal;
  /**
   * Aborted (with a {@linkcode DeadlinePassed}) at the deadline: wait on
   * work with `untilAborted` (src/until_aborted.ts) or `settledBefore`.
   */
  readonly passed: AbortSignal;
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
  const passed = new AbortController();
  const ids: number[] = [];
  const start = () => {
    ids.push(
      timers.setTimeout(
        () => cutoff.abort(new ShuttingDown()),
        deadlineMs - cutoffReserveMs(deadlineMs),
      ),
      timers.setTimeout(() => passed.abort(new DeadlinePassed()), deadlineMs),
    );
  };
  if (stop.aborted) start();
  else stop.addEventListener("abort", start, { once: true });
  return {
    cutoff: cutoff.signal,
    passed: passed.signal,
    dispose() {
      stop.removeEventListener("abort", start);
      for (const id of ids) timers.clearTimeout(id);
    },
  };
}

/**
 * The retry gate: while the database is failing, which messages must wait,
 * until when, and with which delay each is nak'd, so that a failed batch's
 * messages are stored before anything that arrived after them.
 *
 * @module
 */
import type { JsMsg } from "@nats-io/jetstream";
import { backoffDelay } from "../backoff.ts";
import { type Clock, wallClock } from "../clock.ts";

/** How much later than a failed batch the messages arriving after it are due again, ms. */
export const RETRY_MARGIN_MS = 250;

/**
 * The redelivery delay after `failures` consecutive failed batches: 1 s,
 * doubling, at most 30 s. Every message set aside by one failure gets the
 * same delay, so they come back together and in stream order.
 */
export function retryDelay(failures: number): number {
  return backoffDelay(Math.min(failures - 1, 10), { baseMs: 1_000, maxMs: 30_000, jitter: 0 });
}

/** Options of {@linkcode RetryGate}. */
export interface RetryGateOptions {
  /** Consecutive failed batches so far (kept across a re-bind). @default 0 */
  failures?: number;
  /** The clock that says when a wait is over. @default wallClock */
  clock?: Clock;
  /** Called with how many messages {@linkcode RetryGate.setAside} nak'd. */
  onSetAside?: (count: number) => void;
}

/**
 * The state of the retry gate. After a failed batch (its messages were
 * nak'd with {@linkcode retryDelay}) they are due again at `retryAt`; any of
 * them back earlier waits until then. Everything else arriving before
 * `asideUntil` (`retryAt` + {@linkcode RETRY_MARGIN_MS}) is set aside to come
 * back after them: of an idle pair split by a failure, `idle_timeout` is
 * stored before `normal`.
 */
export class RetryGate {
  #failures: number;
  /** When the failed batch's messages are due again. */
  #retryAt = 0;
  /** Until when everything else that arrives is set aside. */
  #asideUntil = 0;
  /** Stream sequences of messages nak'd because their batch failed, not stored since. */
  readonly #retrying = new Set<number>();
  readonly #clock: Clock;
  readonly #onSetAside: ((count: number) => void) | undefined;

  constructor(options: RetryGateOptions = {}) {
    this.#failures = options.failures ?? 0;
    this.#clock = options.clock ?? wallClock;
    this.#onSetAside = options.onSetAside;
  }

  /** Consecutive failed batches, 0 after a commit. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * True while messages of a failed batch are still to be stored: their
   * batch goes on gathering (within its linger) though nothing is pending,
   * so that they are stored in one attempt.
   */
  get retrying(): boolean {
    return this.#retrying.size > 0;
  }

  /**
   * Records how the batch of `messages` went: `failures` is the count of
   * consecutive failed batches after it (0: it was committed). A failure
   * starts the waits from now.
   */
  settled(messages: readonly JsMsg[], failures: number): void {
    this.#failures = failures;
    for (const msg of messages) {
      if (failures > 0) this.#retrying.add(msg.info.streamSequence);
      else this.#retrying.delete(msg.info.streamSequence);
    }
    if (failures > 0) {
      this.#retryAt = this.#clock.now() + retryDelay(failures);
      this.#asideUntil = this.#retryAt + RETRY_MARGIN_MS;
    }
  }

  /** Until when `msg` must wait (0: it need not). */
  waitUntil(msg: JsMsg): number {
    const until = this.#retrying.has(msg.info.streamSequence) ? this.#retryAt : this.#asideUntil;
    return until > this.#clock.now() ? until : 0;
  }

  /** True when `msg` may not be stored yet. */
  mustWait(msg: JsMsg): boolean {
    return this.waitUntil(msg) > 0;
  }

  /** True when any message of `batch` may not be stored yet. */
  anyMustWait(batch: readonly JsMsg[]): boolean {
    for (const msg of batch) if (this.mustWait(msg)) return true;
    return false;
  }

  /** Naks each of `messages` to come back when its wait is over (at least 1 ms from now). */
  setAside(messages: readonly JsMsg[]): void {
    for (const msg of messages) msg.nak(Math.max(1, this.waitUntil(msg) - this.#clock.now()));
    this.#onSetAside?.(messages.length);
  }
}

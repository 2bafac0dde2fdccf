/**
 * Gathering a batch: how many messages it may take (more behind a
 * backlog), and how long it waits for the next one (the linger).
 *
 * @module
 */
import type { JsMsg } from "@nats-io/jetstream";
import { systemTimers, type Timers } from "../clock.ts";
import type { RetryGate } from "./retry_gate.ts";
import { nextTurn, SLICE } from "./turns.ts";

/**
 * How much larger a transaction grows behind a deep backlog. A commit's cost
 * (fsync, index pages rewritten) barely depends on its size, so 5 × 500 rows
 * per commit stores a 200,000-event backlog about twice as fast as 500.
 * Not more: two batches are in memory at once (one committing, the next
 * gathered). With V8 letting the heap double before a full collection
 * (`--heap-growing-percent=100` in `deno task start`, a third less CPU for
 * the garbage collector), a backlog drain peaked at 200.9 MB at 6 × 500 and
 * at 160.7–162.9 MB at 5 × 500, as fast (`deno task bench`).
 */
export const BACKLOG_BATCH_FACTOR = 5;

/**
 * How many messages the batch that starts with a message followed by
 * `pending` others (as the server counted when it delivered it) may take:
 * `batchSize` while the consumer keeps up, and behind a backlog all that is
 * waiting, up to {@linkcode BACKLOG_BATCH_FACTOR} × `batchSize`.
 */
export function batchLimit(pending: number, batchSize: number): number {
  return Math.min(batchSize * BACKLOG_BATCH_FACTOR, Math.max(batchSize, pending + 1));
}

/** How long to wait for more messages before committing a partial batch, ms. */
export const LINGER_MS = 5;
/**
 * The same behind a backlog: more messages are known to be coming, and a
 * short gap in delivery would otherwise cut the batch and cost a commit.
 */
export const BACKLOG_LINGER_MS = 100;

/**
 * The wait for the rest of a batch: {@linkcode Linger.idle} resolves once
 * no message has arrived for `ms`. One timer for the whole batch, re-armed
 * only when it fires early, instead of one per message (a timer is a call
 * into the runtime, and a batch can be 2,500 messages).
 */
export class Linger {
  /** Resolves once `ms` have passed without an arrival. */
  readonly idle: Promise<undefined>;
  readonly #ms: number;
  readonly #timers: Timers;
  #last: number;
  #timer: number | undefined;
  #resolve!: (value: undefined) => void;

  /** Starts waiting now, on `timers` (default: the runtime's). */
  constructor(ms: number, timers: Timers = systemTimers) {
    this.#ms = ms;
    this.#timers = timers;
    this.#last = timers.now();
    this.idle = new Promise((resolve) => this.#resolve = resolve);
    this.#arm(ms);
  }

  #arm(delay: number): void {
    this.#timer = this.#timers.setTimeout(() => {
      const quiet = this.#timers.now() - this.#last;
      if (quiet >= this.#ms) this.#resolve(undefined);
      else this.#arm(this.#ms - quiet);
    }, delay);
  }

  /** A message arrived: the wait starts again from now. */
  arrived(): void {
    this.#last = this.#timers.now();
  }

  /** Stops the timer (the batch is complete). */
  cancel(): void {
    this.#timers.clearTimeout(this.#timer);
  }
}

/** Options of {@linkcode Gatherer}. */
export interface GatherOptions {
  /** Messages in a batch while the consumer keeps up (`INGEST_BATCH_SIZE`). */
  batchSize: number;
  /** Which arriving messages must wait instead of joining a batch. */
  gate: RetryGate;
  /** The timers of the linger. @default systemTimers */
  timers?: Timers;
}

const ENDED: Promise<IteratorResult<JsMsg>> = Promise.resolve({ done: true, value: undefined });

/**
 * Cuts the consumer's messages into batches: a batch takes what the server
 * says is pending behind its first message, up to {@linkcode batchLimit},
 * and ends when nothing more is pending or nothing arrived within its
 * linger. A message still awaited when the linger ends starts the next batch.
 */
export class Gatherer {
  readonly #it: AsyncIterator<JsMsg>;
  readonly #batchSize: number;
  readonly #gate: RetryGate;
  readonly #timers: Timers;
  /** The next message, asked for and not arrived when the last batch's linger ended. */
  #waiting: Promise<IteratorResult<JsMsg>> | undefined;
  /** The messages have ended. */
  #done = false;

  constructor(messages: AsyncIterable<JsMsg>, options: GatherOptions) {
    this.#it = messages[Symbol.asyncIterator]();
    this.#batchSize = options.batchSize;
    this.#gate = options.gate;
    this.#timers = options.timers ?? systemTimers;
  }

  /** The first message of the next batch, or `done` once the messages have ended. */
  first(): Promise<IteratorResult<JsMsg>> {
    if (this.#done) return ENDED;
    const next = this.#waiting ?? this.#it.next();
    this.#waiting = undefined;
    return next;
  }

  /**
   * The batch that starts with `first`. Messages that must wait (see
   * {@linkcode RetryGate.mustWait}) are set aside on arrival; while a failed
   * batch is retried the batch goes on gathering until its linger ends.
   */
  async batch(first: JsMsg): Promise<JsMsg[]> {
    const batch = [first];
    const pending = first.info.pending;
    const limit = batchLimit(pending, this.#batchSize);
    // Always with a linger: the iterator's getPending() can count a message that is not there
    // (nats.js counts the pull-refill callbacks it queues after an expired pull), and waiting
    // on it would hold the batch, unacknowledged, until the server redelivers something.
    const backlog = pending >= this.#batchSize;
    const linger = new Linger(backlog ? BACKLOG_LINGER_MS : LINGER_MS, this.#timers);
    try {
      while (
        batch.length < limit && (batch[batch.length - 1].info.pending > 0 || this.#gate.retrying)
      ) {
        this.#waiting = this.#it.next();
        const next = await Promise.race([this.#waiting, linger.idle]);
        if (next === undefined) break; // nothing within the linger: commit what we have
        this.#waiting = undefined;
        linger.arrived();
        if (next.done) {
          this.#done = true;
          break;
        }
        if (this.#gate.mustWait(next.value)) {
          this.#gate.setAside([next.value]);
          continue;
        }
        batch.push(next.value);
        if (batch.length % SLICE === 0) await nextTurn();
      }
    } finally {
      linger.cancel();
    }
    return batch;
  }
}

/**
 * The consumer's messages for unit tests: an async iterable the test feeds
 * one message at a time, as the consumer's iterator would deliver them.
 *
 * @module
 */
import type { JsMsg } from "@nats-io/jetstream";

/** Messages the test hands over one by one, and how often they were asked for. */
export class Arrivals implements AsyncIterable<JsMsg> {
  /** Calls of the iterator's next(). */
  asked = 0;
  #ready: IteratorResult<JsMsg>[] = [];
  #waiters: Array<(result: IteratorResult<JsMsg>) => void> = [];

  /** Delivers `messages`, in order. */
  push(...messages: JsMsg[]): void {
    for (const value of messages) this.#deliver({ done: false, value });
  }

  /** Ends the messages, as `stop()` does. */
  end(): void {
    this.#deliver({ done: true, value: undefined });
  }

  #deliver(result: IteratorResult<JsMsg>): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(result);
    else this.#ready.push(result);
  }

  [Symbol.asyncIterator](): AsyncIterator<JsMsg> {
    return {
      next: () => {
        this.asked++;
        const ready = this.#ready.shift();
        return ready
          ? Promise.resolve(ready)
          : new Promise((resolve) => this.#waiters.push(resolve));
      },
    };
  }
}

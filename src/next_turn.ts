/**
 * Yielding to the event loop: a long loop lets I/O and database
 * completions run between its steps.
 *
 * @module
 */
import { setImmediate } from "node:timers";

/**
 * Lets the event loop run (I/O and database completions) before going on.
 * `setImmediate`, not `setTimeout(0)`: nested timers are clamped to 4 ms.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

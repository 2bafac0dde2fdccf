/**
 * Giving up on a promise when a signal aborts: the caller stops waiting
 * (rejecting with the signal's reason) while the work itself settles on its
 * own, for work that cannot be cancelled (a remote query, a NATS read, a
 * commit the shutdown deadline stops waiting for).
 *
 * @module
 */

/** `work`'s result, or a rejection with `signal.reason` as soon as `signal` aborts. */
export async function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Whether `work` settled (resolved or rejected) before `signal` aborted:
 * false as soon as it aborts, the work going on unwatched.
 */
export async function settledBefore(work: Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  try {
    await untilAborted(work, signal);
  } catch (err) {
    if (signal.aborted && err === signal.reason) return false;
  }
  return true;
}

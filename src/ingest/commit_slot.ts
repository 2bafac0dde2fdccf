/**
 * The commit slot of the ingest loop: one batch committed at a time, while
 * the acks of the batches committed before it still go out (see settle.ts).
 *
 * @module
 */
import type { ChainHeadCache, PreparedBatch } from "../store/chain_prep.ts";
import type { DecodedBatch } from "./decode.ts";
import { type BatchResult, type Commit, commitAndSettle, type SettleDeps } from "./settle.ts";

/**
 * The one batch being committed at a time, and the acks of the batches
 * committed before it, still going out.
 */
export class CommitSlot {
  readonly #commit: Commit;
  readonly #deps: SettleDeps;
  #committing: Promise<BatchResult> | undefined;
  #settling: Promise<void> = Promise.resolve();

  constructor(commit: Commit, deps: SettleDeps) {
    this.#commit = commit;
    this.#deps = deps;
  }

  /** Starts committing `batch`; the one before must have been {@linkcode CommitSlot.finish}ed. */
  start(
    batch: DecodedBatch,
    prepared: PreparedBatch,
    heads: ChainHeadCache,
    failures: number,
  ): void {
    this.#committing = commitAndSettle(this.#commit, batch, prepared, heads, failures, this.#deps);
  }

  /**
   * Waits for the batch being committed, if any, and returns how it went;
   * its acks go on going out (see {@linkcode CommitSlot.settled}).
   */
  async finish(): Promise<BatchResult | undefined> {
    if (this.#committing === undefined) return undefined;
    const result = await this.#committing;
    this.#committing = undefined;
    // Slices of acks can overlap: a small batch's may end before a large one's before it.
    this.#settling = Promise.all([this.#settling, result.settled]).then(() => {});
    return result;
  }

  /** Resolves once the acks of every batch finished so far have gone out. */
  settled(): Promise<void> {
    return this.#settling;
  }
}

/**
 * The per-tenant hash chain of session ends: the chain hash, and an
 * incremental verifier that names the first break (altered, missing or
 * inserted), correction links included. Pure: no I/O.
 *
 *     chain_hash = hex(SHA-256(UTF-8(previous_chain_hash + "\n" + canonical)))
 *
 * where `canonical` is the row's canonical encoding in the version it was
 * written with (`canonical.ts`) and `previous_chain_hash` is the hash of the
 * same tenant's row with `chain_seq - 1`, or 64 zeros for `chain_seq` 1 (or
 * the hash of the purge checkpoint when older rows were purged).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { canonicalRow, type ChainedFields } from "./canonical.ts";
import { CorrectionLinks } from "./corrections.ts";

/** The previous hash of a tenant's first row. */
export const GENESIS_HASH = "0".repeat(64);

/** A stored row as the verifier reads it. */
export interface StoredChainRow extends Omit<ChainedFields, "chainSeq"> {
  /** The canonical encoding it was written with (1 or 2). */
  chainVersion: number;
  /** Null for a row that was never chained (slipped in by hand). */
  chainSeq: number | null;
  chainHash: string | null;
  /** The position of the correction that replaced this row, or null while it is current. */
  correctedBy: number | null;
}

/** `hex(SHA-256(previous + "\n" + canonical))`. */
export function chainHash(previous: string, canonical: string): string {
  return createHash("sha256").update(`${previous}\n${canonical}`).digest("hex");
}

/** Where a tenant's chain (or the verified part of it) starts. */
export interface ChainAnchor {
  /** The seq before the first row to verify: 0 for a full chain. */
  seq: number;
  /** The hash that row had: {@linkcode GENESIS_HASH} for a full chain. */
  hash: string;
}

/** A tenant's chain head: its last seq and hash. */
export type ChainHead = ChainAnchor;

/** Where every chain starts: the head of a tenant with no row yet. */
export const GENESIS_HEAD: Readonly<ChainHead> = Object.freeze({ seq: 0, hash: GENESIS_HASH });

/** Kinds of break. */
export type ChainProblem = "altered" | "missing" | "inserted";

/** The first break found. */
export interface ChainBreak {
  /** The row where the break shows; null when rows are missing at the end. */
  session_id: string | null;
  problem: ChainProblem;
  /** The chain position concerned. */
  chain_seq: number;
  /** What was found, for a human. */
  detail: string;
}

/**
 * Verifies a tenant's rows in `chain_seq` order, one at a time. After the
 * first break it keeps counting rows but reports only that one.
 */
export class ChainVerifier {
  #expectedSeq: number;
  #previous: string;
  readonly #anchorSeq: number;
  readonly #links = new CorrectionLinks();
  #broken: ChainBreak | null = null;
  #rows = 0;

  constructor(anchor: ChainAnchor = GENESIS_HEAD) {
    this.#expectedSeq = anchor.seq + 1;
    this.#previous = anchor.hash;
    this.#anchorSeq = anchor.seq;
  }

  /** Rows seen so far. */
  get rowsChecked(): number {
    return this.#rows;
  }

  /** The first break, if any. */
  get broken(): ChainBreak | null {
    return this.#broken;
  }

  /** The last verified (or, after a break, last seen) head. */
  get head(): ChainHead {
    return { seq: this.#expectedSeq - 1, hash: this.#previous };
  }

  #fail(
    row: { sessionId: string | null } | null,
    problem: ChainProblem,
    seq: number,
    detail: string,
  ): void {
    this.#broken ??= { session_id: row?.sessionId ?? null, problem, chain_seq: seq, detail };
  }

  #noteLinks(row: StoredChainRow, seq: number): void {
    if (row.corrects !== null || row.correctedBy !== null) {
      this.#links.note({ ...row, chainSeq: seq });
    }
  }

  /** Checks the next row (rows must come in ascending `chain_seq`, unchained rows anywhere). */
  push(row: StoredChainRow): void {
    this.#rows++;
    if (row.chainSeq === null || row.chainHash === null) {
      this.#fail(row, "inserted", this.#expectedSeq, "row carries no chain position or hash");
      return;
    }
    const seq = row.chainSeq;
    if (seq < this.#expectedSeq) {
      this.#fail(row, "inserted", seq, `a second row claims chain position ${seq}`);
      return;
    }
    if (seq > this.#expectedSeq) {
      this.#fail(
        row,
        "missing",
        this.#expectedSeq,
        `chain positions ${this.#expectedSeq}..${seq - 1} are absent`,
      );
      // Resynchronise on this row so later rows are still checked.
      this.#noteLinks(row, seq);
      this.#expectedSeq = seq + 1;
      this.#previous = row.chainHash;
      return;
    }
    this.#noteLinks(row, seq);
    const canonical = canonicalRow({ ...row, chainSeq: seq }, row.chainVersion);
    if (!canonical.ok) {
      this.#fail(row, "altered", seq, canonical.problem);
    } else if (chainHash(this.#previous, canonical.text) !== row.chainHash) {
      this.#fail(row, "altered", seq, "the row does not match its chain hash");
    }
    this.#expectedSeq = seq + 1;
    this.#previous = row.chainHash;
  }

  /**
   * Ends the walk. `checkpoints` are signed heads already verified for
   * their signature: each must name a row that is present with that hash.
   * `recordedHeadSeq`, the position the store says the chain reached, must
   * be reached too (rows deleted at the end show there).
   */
  finish(
    checkpoints: ChainHead[] = [],
    hashAt?: Map<number, string>,
    recordedHeadSeq?: number,
  ): ChainBreak | null {
    const last = this.#expectedSeq - 1;
    if (recordedHeadSeq !== undefined && recordedHeadSeq > last) {
      this.#fail(
        null,
        "missing",
        last + 1,
        `the recorded chain head is at position ${recordedHeadSeq}; the chain ends at ${last}`,
      );
    }
    for (const checkpoint of checkpoints) {
      if (checkpoint.seq > last) {
        this.#fail(
          null,
          "missing",
          last + 1,
          `a signed checkpoint covers positions up to ${checkpoint.seq}; the chain ends at ${last}`,
        );
      } else if (
        hashAt && hashAt.has(checkpoint.seq) && hashAt.get(checkpoint.seq) !== checkpoint.hash
      ) {
        this.#fail(
          null,
          "altered",
          checkpoint.seq,
          `the chain was rewritten: position ${checkpoint.seq} differs from its signed checkpoint`,
        );
      }
    }
    // Last: a correction deleted shows as missing above, not as the mark it leaves behind.
    const link = this.#links.check(this.#anchorSeq);
    if (link) this.#fail({ sessionId: link.sessionId }, "altered", link.chainSeq, link.detail);
    return this.#broken;
  }
}

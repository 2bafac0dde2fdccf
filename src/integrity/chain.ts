/**
 * The per-tenant hash chain of session ends: the canonical encoding of a
 * row, the chain hash, and an incremental verifier that names the first
 * break (altered, missing or inserted). Pure: no I/O.
 *
 * Canonical encoding (version 1), for anyone recomputing a chain:
 *
 *     canonical = JSON array, no white space, in this order:
 *       ["sa1", chain_seq, session_id, tenant_id, device_id, user_id,
 *        start_time, end_time, duration_seconds, source_ip, reason, recorded_at]
 *     times are epoch milliseconds (integers), absent values are null,
 *     strings are JSON strings (ids are lower-case UUIDs).
 *     chain_hash = hex(SHA-256(UTF-8(previous_chain_hash + "\n" + canonical)))
 *
 * where `previous_chain_hash` is the hash of the same tenant's row with
 * `chain_seq - 1`, or 64 zeros for `chain_seq` 1 (or the hash of the purge
 * checkpoint when older rows were purged).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { SessionEnd } from "../event.ts";

/** The previous hash of a tenant's first row. */
export const GENESIS_HASH = "0".repeat(64);

/** The fields of a row that the chain covers: the session end, its position and when it was stored. */
export interface ChainedFields extends SessionEnd {
  chainSeq: number;
  recordedAt: number;
}

/** A stored row as the verifier reads it. */
export interface StoredChainRow extends Omit<ChainedFields, "chainSeq"> {
  /** Null for a row that was never chained (slipped in by hand). */
  chainSeq: number | null;
  chainHash: string | null;
}

/** The canonical encoding of a row (version 1, see the module comment). */
export function canonicalRow(row: ChainedFields): string {
  return JSON.stringify([
    "sa1",
    row.chainSeq,
    row.sessionId,
    row.tenantId,
    row.deviceId,
    row.userId,
    row.startTime,
    row.endTime,
    row.durationSeconds,
    row.sourceIp,
    row.reason,
    row.recordedAt,
  ]);
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
  #broken: ChainBreak | null = null;
  #rows = 0;

  constructor(anchor: ChainAnchor = GENESIS_HEAD) {
    this.#expectedSeq = anchor.seq + 1;
    this.#previous = anchor.hash;
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

  #fail(row: StoredChainRow | null, problem: ChainProblem, seq: number, detail: string): void {
    this.#broken ??= { session_id: row?.sessionId ?? null, problem, chain_seq: seq, detail };
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
      this.#expectedSeq = seq + 1;
      this.#previous = row.chainHash;
      return;
    }
    const expected = chainHash(this.#previous, canonicalRow({ ...row, chainSeq: seq }));
    if (expected !== row.chainHash) {
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
    return this.#broken;
  }
}

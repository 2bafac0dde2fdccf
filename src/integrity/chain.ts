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

/**
 * Kinds of break: rows `altered`, `missing` or `inserted`; a checkpoint
 * `forged` (a bad signature, or unsigned where a key requires one) or
 * `unverifiable` (signed by a key that is not configured).
 */
export type ChainProblem = "altered" | "missing" | "inserted" | "forged" | "unverifiable";

/** The first break found. */
export interface ChainBreak {
  /** The row where the break shows; null when rows are missing at the end, or for a checkpoint. */
  session_id: string | null;
  problem: ChainProblem;
  /** The chain position concerned (the first of a rewritten range). */
  chain_seq: number;
  /** What was found, for a human. */
  detail: string;
}

/**
 * The break to report of several: the lowest position, real damage before
 * `unverifiable` (which only says a key is missing), the earliest found on a
 * tie. Breaks of the rows come before breaks of the checkpoints: pass those
 * separately, as `after`.
 */
export function firstBreak(
  breaks: readonly (ChainBreak | null)[],
  after: readonly ChainBreak[] = [],
): ChainBreak | null {
  const rows = firstOf(breaks);
  return rows && rows.problem !== "unverifiable" ? rows : firstOf([rows, ...after]);
}

function firstOf(breaks: readonly (ChainBreak | null)[]): ChainBreak | null {
  let first: ChainBreak | null = null;
  const rank = (b: ChainBreak) => (b.problem === "unverifiable" ? 1 : 0);
  for (const b of breaks) {
    if (!b) continue;
    if (
      !first || rank(b) < rank(first) ||
      (rank(b) === rank(first) && b.chain_seq < first.chain_seq)
    ) first = b;
  }
  return first;
}

/** A position the rows must reach with this hash, and who says so. */
export interface WatchedHead {
  seq: number;
  hash: string;
  /** For a human: "checkpoint 4", "checkpoint 4 of the independent copy". */
  label: string;
}

/**
 * Verifies a tenant's rows in `chain_seq` order, one at a time. After the
 * first break it keeps counting rows but reports only that one.
 */
export class ChainVerifier {
  #expectedSeq: number;
  #previous: string;
  readonly #anchorSeq: number;
  readonly #linksFrom: number;
  readonly #vouchedFrom: number;
  readonly #links = new CorrectionLinks();
  readonly #heads: readonly WatchedHead[];
  readonly #watched: ReadonlySet<number>;
  /** The hashes found at the watched positions. */
  readonly #hashAt = new Map<number, string>();
  #broken: ChainBreak | null = null;
  #rows = 0;

  /**
   * `heads` are positions vouched for by trusted checkpoints: the walk
   * must reach each with its hash. A walk that resumes a chain verified
   * before (from `anchor`, its last verified position) says how far that
   * chain was vouched for (`vouchedFrom`: a rewrite is named from there on)
   * and where corrections may still point (`linksFrom`: older rows, noted
   * with {@linkcode ChainVerifier.noteOutside} when named).
   */
  constructor(
    anchor: ChainAnchor = GENESIS_HEAD,
    heads: readonly WatchedHead[] = [],
    options: { linksFrom?: number; vouchedFrom?: number } = {},
  ) {
    this.#expectedSeq = anchor.seq + 1;
    this.#previous = anchor.hash;
    this.#anchorSeq = anchor.seq;
    this.#linksFrom = options.linksFrom ?? anchor.seq;
    this.#vouchedFrom = options.vouchedFrom ?? anchor.seq;
    this.#heads = [...heads].sort((a, b) => a.seq - b.seq);
    this.#watched = new Set(heads.map((h) => h.seq));
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

  /** The highest position a watched head vouches for that the walk reached intact (else the anchor). */
  get vouchedSeq(): number {
    let seq = this.#vouchedFrom;
    for (const h of this.#heads) if (this.#hashAt.get(h.seq) === h.hash) seq = Math.max(seq, h.seq);
    return seq;
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

  #watch(seq: number, hash: string): void {
    if (this.#watched.has(seq)) this.#hashAt.set(seq, hash);
  }

  /** Notes a row verified before this walk that a correction of the walk names. */
  noteOutside(row: StoredChainRow): void {
    if (row.chainSeq !== null) this.#noteLinks(row, row.chainSeq);
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
      this.#watch(seq, row.chainHash);
      this.#expectedSeq = seq + 1;
      this.#previous = row.chainHash;
      return;
    }
    this.#noteLinks(row, seq);
    this.#watch(seq, row.chainHash);
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
   * Ends the walk and returns the break to report. Each watched head must
   * be reached with its hash: beyond the end, rows are missing; with another
   * hash, the positions since the last head that matched were rewritten.
   * `recordedHeadSeq`, the position the store says the chain reached, must
   * be reached too (rows deleted at the end show there). `partial`: the walk
   * stopped before the end on purpose; what lies beyond is not judged.
   */
  finish(recordedHeadSeq?: number, partial = false): ChainBreak | null {
    const last = this.#expectedSeq - 1;
    const found: ChainBreak[] = [];
    if (recordedHeadSeq !== undefined && recordedHeadSeq > last) {
      found.push({
        session_id: null,
        problem: "missing",
        chain_seq: last + 1,
        detail:
          `the recorded chain head is at position ${recordedHeadSeq}; the chain ends at ${last}`,
      });
    }
    // A position is intact when every head at it matches: the copy's may disagree with the database's.
    const disagree = new Set(
      this.#heads.filter((h) => this.#hashAt.has(h.seq) && this.#hashAt.get(h.seq) !== h.hash)
        .map((h) => h.seq),
    );
    let intact = this.#vouchedFrom;
    for (const head of this.#heads) {
      const hash = this.#hashAt.get(head.seq);
      if (head.seq > last) {
        if (partial) continue;
        found.push({
          session_id: null,
          problem: "missing",
          chain_seq: last + 1,
          detail: `${head.label} vouches for position ${head.seq}; the chain ends at ${last}`,
        });
      } else if (hash === undefined) {
        // Absent: the walk reported the gap.
      } else if (hash !== head.hash) {
        found.push({
          session_id: null,
          problem: "altered",
          chain_seq: intact + 1,
          detail: `the chain was rewritten between positions ${intact + 1} and ${head.seq}: ` +
            `position ${head.seq} differs from ${head.label}`,
        });
      } else if (!disagree.has(head.seq)) {
        intact = Math.max(intact, head.seq);
      }
    }
    // A correction deleted shows as missing, before the mark it leaves behind.
    const link = this.#links.check(this.#linksFrom, partial ? last : Infinity);
    const linkBreak: ChainBreak | null = link
      ? {
        session_id: link.sessionId,
        problem: "altered",
        chain_seq: link.chainSeq,
        detail: link.detail,
      }
      : null;
    this.#broken = firstBreak([
      this.#broken,
      ...found,
      this.#broken || found.length ? null : linkBreak,
    ]);
    return this.#broken;
  }
}

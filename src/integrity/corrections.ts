/**
 * Correction links of a chain: a correction names the version it replaces
 * (`corrects`, covered by its hash) and that version names it back
 * (`corrected_by`, the one column written after a row's insert, and only
 * ever from null to a correction's position). The verifier checks both
 * directions, so setting or clearing `corrected_by` by hand, or replacing
 * a version with a later event, is found. Pure.
 *
 * @module
 */

/** What the links need of a row. */
export interface LinkedRow {
  sessionId: string;
  chainSeq: number;
  streamSeq: number;
  /** The position this row corrects, or null. */
  corrects: number | null;
  /** The position of the correction that replaced this row, or null while it is current. */
  correctedBy: number | null;
}

/** A broken link: the position it shows at and why. */
export interface LinkBreak {
  sessionId: string | null;
  chainSeq: number;
  detail: string;
}

/**
 * Collects the rows of one tenant's chain that take part in a correction
 * (few: the rest are not kept) and checks their links at the end.
 */
export class CorrectionLinks {
  /** Rows with `corrects` or `corrected_by`, by position. */
  readonly #linked = new Map<number, LinkedRow>();

  /** Notes a row seen in the walk (any order). */
  note(row: LinkedRow): void {
    if (row.corrects !== null || row.correctedBy !== null) this.#linked.set(row.chainSeq, row);
  }

  /**
   * The first broken link, in position order: every correction after
   * `anchorSeq` (older ones may have been purged) must name an earlier
   * version of the same session, decided by a later event, that names it
   * back; every row marked corrected must be named by its correction, unless
   * that correction lies beyond `untilSeq` (a walk that stopped before it).
   */
  check(anchorSeq: number, untilSeq = Infinity): LinkBreak | null {
    const breaks: LinkBreak[] = [];
    for (const row of this.#linked.values()) {
      if (row.corrects === null && row.correctedBy !== null && row.correctedBy > untilSeq) continue;
      const fault = this.#faultOf(row, anchorSeq);
      if (fault) breaks.push({ sessionId: row.sessionId, chainSeq: row.chainSeq, detail: fault });
    }
    breaks.sort((a, b) => a.chainSeq - b.chainSeq);
    return breaks[0] ?? null;
  }

  #faultOf(row: LinkedRow, anchorSeq: number): string | undefined {
    if (row.corrects !== null && row.corrects > anchorSeq) {
      const target = this.#linked.get(row.corrects);
      if (row.corrects >= row.chainSeq) {
        return `the correction at position ${row.chainSeq} names a later position, ${row.corrects}`;
      }
      if (target === undefined || target.correctedBy !== row.chainSeq) {
        return `the correction at position ${row.chainSeq} replaces position ${row.corrects}, which does not name it back`;
      }
      if (target.sessionId !== row.sessionId) {
        return `the correction at position ${row.chainSeq} replaces position ${row.corrects} of another session`;
      }
      if (!(row.streamSeq < target.streamSeq)) {
        return `the correction at position ${row.chainSeq} comes from a later event (stream sequence ${row.streamSeq}) than the version it replaces (${target.streamSeq})`;
      }
    }
    if (row.correctedBy !== null) {
      const correction = this.#linked.get(row.correctedBy);
      if (correction === undefined || correction.corrects !== row.chainSeq) {
        return `position ${row.chainSeq} is marked corrected by position ${row.correctedBy}, which does not correct it`;
      }
    }
    return undefined;
  }
}

/**
 * Poison isolation: a batch whose transaction the database refuses
 * deterministically (a constraint or a trigger refusing a row; not busy,
 * locked, full or unreachable: `store/db_errors.ts`) is tried again a few
 * times, then split in halves until each message that makes it fail stands
 * alone. Such a message is quarantined with the database's error; every
 * other message is committed. One poison message never holds back the rest.
 *
 * @module
 */
import type { ChainHeadCache } from "../store/chain_prep.ts";
import { prepareBatch } from "../store/chain_prep.ts";
import { type BatchOutcome, emptyOutcome } from "../store/commit.ts";
import { classifyDbError, describeDbError } from "../store/db_errors.ts";
import { deadLetterOf } from "../store/session_end_sql.ts";
import type { Decoded, DecodedBatch } from "./decode.ts";
import type { Commit } from "./settle.ts";

/** How many times in all a refused batch is tried whole before it is split. */
export const ISOLATION_ATTEMPTS = 3;

/** What isolation stored, quarantined and left over. */
export interface Isolated {
  /** What the committed parts did, merged. */
  outcome: BatchOutcome;
  /** Stream sequences quarantined because the database refused them alone, with its error. */
  refused: Map<number, string>;
  /** Stream sequences neither stored nor quarantined (to nak): after a transient failure, or a quarantine refused too. */
  retry: Set<number>;
  /** The transient failure that stopped isolation, if one did. */
  transient?: unknown;
}

/** The text kept with a message whose row the database refused. */
export function refusalError(err: unknown): string {
  return `the database refused this event: ${describeDbError(err)}`;
}

function merge(into: BatchOutcome, part: BatchOutcome): void {
  for (const id of part.inserted) into.inserted.add(id);
  for (const id of part.corrected) into.corrected.add(id);
  for (const seq of part.written) into.written.add(seq);
  for (const [seq, error] of part.quarantined) into.quarantined.set(seq, error);
}

/** A part of a batch as its own batch, its chain computed inside its transaction. */
function preparedPart(part: Decoded[]) {
  const rows = [];
  const letters = [];
  for (const d of part) {
    if (d.kind === "valid") rows.push(d.row);
    else letters.push(d.letter);
  }
  return prepareBatch(rows, letters);
}

/**
 * Stores what can be stored of a batch whose commit failed deterministically
 * (see the module comment). Never rejects: a transient failure met on the way
 * stops it, and what was not settled yet is left in `retry`.
 */
export async function isolatePoison(
  commit: Commit,
  batch: DecodedBatch,
  heads: ChainHeadCache,
): Promise<Isolated> {
  const result: Isolated = { outcome: emptyOutcome(), refused: new Map(), retry: new Set() };
  const queue: Decoded[][] = [];
  for (let attempt = 1; attempt < ISOLATION_ATTEMPTS; attempt++) {
    try {
      merge(result.outcome, await commit(preparedPart(batch.decoded), heads));
      return result;
    } catch (err) {
      if (classifyDbError(err) === "transient") return stopped(result, [batch.decoded], err);
    }
  }
  queue.push(batch.decoded);
  while (queue.length > 0) {
    const part = queue.shift() as Decoded[];
    try {
      merge(result.outcome, await commit(preparedPart(part), heads));
    } catch (err) {
      if (classifyDbError(err) === "transient") return stopped(result, [part, ...queue], err);
      if (part.length > 1) {
        const middle = Math.ceil(part.length / 2);
        queue.unshift(part.slice(0, middle), part.slice(middle)); // depth first, in order
      } else {
        await quarantineAlone(commit, part[0], err, heads, result);
      }
    }
  }
  return result;
}

/** Quarantines a message the database refuses alone, with the database's error. */
async function quarantineAlone(
  commit: Commit,
  d: Decoded,
  refusal: unknown,
  heads: ChainHeadCache,
  result: Isolated,
): Promise<void> {
  const seq = d.msg.info.streamSequence;
  if (d.kind === "invalid") {
    // Its dead letter is what the database refuses: nothing left to store it in.
    result.retry.add(seq);
    return;
  }
  const error = refusalError(refusal);
  try {
    await commit(prepareBatch([], [deadLetterOf(d.row, error)]), heads);
    result.refused.set(seq, error);
  } catch (err) {
    result.retry.add(seq);
    if (classifyDbError(err) === "transient") result.transient ??= err;
  }
}

function stopped(result: Isolated, parts: Decoded[][], err: unknown): Isolated {
  for (const part of parts) for (const d of part) result.retry.add(d.msg.info.streamSequence);
  result.transient = err;
  return result;
}

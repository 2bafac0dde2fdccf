/**
 * Committing a batch: session ends and dead letters in one write
 * transaction; the earliest event of a session by stream sequence decides
 * its row (`earliest_event.ts`): a later one is a duplicate, an earlier one
 * than the stored version appends a correction; each new row extends its
 * tenant's hash chain inside that same transaction, with the chain prepared
 * ahead when it holds.
 *
 * @module
 */
import type { ChainHead } from "../integrity/chain.ts";
import {
  type BatchChain,
  type ChainHeadCache,
  confirmChain,
  prepareBatch,
  type PreparedBatch,
} from "./chain_prep.ts";
import type { Database, WriteTx } from "./client.ts";
import { conflictError } from "./earliest_event.ts";
import {
  chainHeadsSql,
  type CurrentVersion,
  currentVersionsSql,
  type DeadLetter,
  deadLetterOf,
  type IncomingSessionEnd,
  insertDeadLettersSql,
  insertSessionEndsSql,
  markCorrectedSql,
  upsertChainHeadsSql,
} from "./session_end_sql.ts";
import { resolveRowKeys } from "./id_keys.ts";

/** What one committed batch did. */
export interface BatchOutcome {
  /** `session_id`s stored for the first time by this batch. */
  inserted: Set<string>;
  /** `session_id`s whose row this batch corrected (an earlier event arrived). */
  corrected: Set<string>;
  /** Stream sequences of the events written (stored or correcting); other valid events were duplicates. */
  written: Set<number>;
  /** Stream sequences of valid events quarantined instead (a session of another tenant), with the error. */
  quarantined: Map<number, string>;
}

/** The outcome of a batch that wrote no session end. */
export function emptyOutcome(): BatchOutcome {
  return { inserted: new Set(), corrected: new Set(), written: new Set(), quarantined: new Map() };
}

/**
 * Stores session ends and dead letters in one write transaction. When it
 * resolves, everything is committed; when it rejects, nothing is.
 *
 * Inside the transaction (no other writer can interleave, so two workers
 * sharing a database keep each chain linear) it reads which sessions are
 * already stored and the chain heads of the batch's tenants, then inserts
 * only the new rows with their chain positions and moves the heads.
 */
export async function storeBatch(
  db: Database,
  rows: IncomingSessionEnd[],
  deadLetters: DeadLetter[],
  now: number = Date.now(),
): Promise<BatchOutcome> {
  return await commitBatch(db, prepareBatch(rows, deadLetters, undefined, now));
}

/**
 * Commits a prepared batch in one write transaction, as
 * {@linkcode storeBatch} describes. A chain computed ahead is used when the
 * transaction confirms what it assumed (no session of the batch stored,
 * every head as expected); otherwise (a redelivered session, another
 * worker's rows, a failed earlier batch) the chain is computed inside the
 * transaction. `cache` learns how the batch went.
 */
export async function commitBatch(
  db: Database,
  batch: PreparedBatch,
  cache?: ChainHeadCache,
): Promise<BatchOutcome> {
  const { rows, deadLetters, recordedAt, ahead } = batch;
  if (rows.length === 0 && deadLetters.length === 0) return emptyOutcome();
  try {
    const written = await db.writeTransaction(async (tx) => {
      const chained = rows.length > 0 ? await chainInTransaction(tx, batch) : undefined;
      let keys: Map<string, number> | undefined;
      let letters = deadLetters;
      if (chained) {
        keys = await resolveRowKeys((stmt) => tx.execute(stmt), chained.fresh, db.idKeys);
        await insertChained(tx, chained.fresh, chained.heads, recordedAt, keys);
        if (chained.letters.length > 0) letters = [...deadLetters, ...chained.letters];
      }
      await tx.batch(insertDeadLettersSql(letters, recordedAt));
      return chained && { ...chained, keys };
    });
    if (written?.keys) db.idKeys.learn(written.keys);
    if (written) cache?.committed(written.heads, written.fresh === ahead?.fresh);
    return outcomeOf(written);
  } catch (err) {
    cache?.reset();
    throw err;
  }
}

/** What the transaction wrote: the chain, and the dead letters of its conflicts. */
interface WrittenChain extends BatchChain {
  letters: DeadLetter[];
}

function outcomeOf(written: WrittenChain | undefined): BatchOutcome {
  const outcome = emptyOutcome();
  for (const row of written?.fresh ?? []) {
    (row.corrects ? outcome.corrected : outcome.inserted).add(row.event.sessionId);
    outcome.written.add(row.streamSeq);
  }
  for (const letter of written?.letters ?? []) {
    outcome.quarantined.set(letter.streamSeq, letter.error);
  }
  return outcome;
}

/**
 * Reads the stored versions of the batch's sessions and its tenants' heads;
 * returns the chain computed ahead if it holds, or computes it again.
 */
async function chainInTransaction(tx: WriteTx, batch: PreparedBatch): Promise<WrittenChain> {
  const ids = [...new Set(batch.rows.map((r) => r.event.sessionId))];
  const tenants = [...new Set(batch.rows.map((r) => r.event.tenantId))];
  const [stored, currentHeads] = await Promise.all([
    tx.execute(currentVersionsSql(ids)),
    tx.execute(chainHeadsSql(tenants)),
  ]);
  const heads = new Map<string, ChainHead>(
    currentHeads.rows.map((
      r,
    ) => [String(r.tenant_id), { seq: Number(r.seq), hash: String(r.hash) }]),
  );
  const current = new Map<string, CurrentVersion>();
  for (const r of stored.rows) {
    current.set(String(r.session_id), {
      id: Number(r.id),
      tenantId: String(r.tenant_id),
      streamSeq: Number(r.stream_seq),
      chainSeq: r.chain_seq === null ? null : Number(r.chain_seq),
    });
  }
  const chain = confirmChain(batch, tenants, current, heads);
  const letters = chain.conflicts.map((c) => deadLetterOf(c.row, conflictError(c.row, c.current)));
  return { ...chain, letters };
}

/** Inserts chained rows and moves their tenants' heads; rolls back if any row was not new. */
async function insertChained(
  tx: WriteTx,
  fresh: IncomingSessionEnd[],
  heads: Map<string, ChainHead>,
  recordedAt: number,
  keys: ReadonlyMap<string, number>,
): Promise<void> {
  if (fresh.length === 0) return;
  // A corrected version is marked first: a session has one current version at a time.
  const marks = markCorrectedSql(fresh);
  if (marks.length > 0) await tx.batch(marks);
  // Every row given a chain position must be inserted, or the chain would have a hole; the
  // INSERTs skip a row that breaks a constraint, so they are counted (with total_changes():
  // RETURNING rows would hold native memory until a GC).
  const changes = async () => Number((await tx.execute("SELECT total_changes() AS n")).rows[0].n);
  const before = await changes();
  await tx.batch(insertSessionEndsSql(fresh, recordedAt, keys));
  const inserted = await changes() - before;
  if (inserted !== fresh.length) {
    throw new Error(
      `${
        fresh.length - inserted
      } of ${fresh.length} session ends to write were not inserted (already stored, or their chain position taken); batch rolled back`,
    );
  }
  await tx.batch(upsertChainHeadsSql([...new Set(fresh.map((r) => r.event.tenantId))], heads));
}

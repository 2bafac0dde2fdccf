/**
 * Committing a batch: session ends and dead letters in one write
 * transaction, the first event for a `session_id` wins and later ones are
 * reported as duplicates; each new row extends its tenant's hash chain
 * inside that same transaction, with the chain prepared ahead when it holds.
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
import {
  chainHeadsSql,
  type DeadLetter,
  type IncomingSessionEnd,
  insertDeadLettersSql,
  insertSessionEndsSql,
  resolveRowKeys,
  storedSessionsSql,
  upsertChainHeadsSql,
} from "./session_end_sql.ts";

/** What one committed batch did. */
export interface BatchOutcome {
  /** `session_id`s inserted by this batch; the other valid events were duplicates. */
  inserted: Set<string>;
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
  if (rows.length === 0 && deadLetters.length === 0) return { inserted: new Set() };
  try {
    const written = await db.writeTransaction(async (tx) => {
      const chained = rows.length > 0 ? await chainInTransaction(tx, batch) : undefined;
      let keys: Map<string, number> | undefined;
      if (chained) {
        keys = await resolveRowKeys((stmt) => tx.execute(stmt), chained.fresh, db.idKeys);
        await insertChained(tx, chained.fresh, chained.heads, recordedAt, keys);
      }
      await tx.batch(insertDeadLettersSql(deadLetters, recordedAt));
      return chained && { ...chained, keys };
    });
    if (written?.keys) db.idKeys.learn(written.keys);
    if (written) cache?.committed(written.heads, written.fresh === ahead?.fresh);
    return { inserted: new Set(written?.fresh.map((r) => r.event.sessionId)) };
  } catch (err) {
    cache?.reset();
    throw err;
  }
}

/**
 * Reads which of the batch's sessions are stored and its tenants' heads;
 * returns the chain computed ahead if it holds, or computes it again.
 */
async function chainInTransaction(tx: WriteTx, batch: PreparedBatch): Promise<BatchChain> {
  const ids = [...new Set(batch.rows.map((r) => r.event.sessionId))];
  const tenants = [...new Set(batch.rows.map((r) => r.event.tenantId))];
  const [stored, current] = await Promise.all([
    tx.execute(storedSessionsSql(ids)),
    tx.execute(chainHeadsSql(tenants)),
  ]);
  const heads = new Map<string, ChainHead>(
    current.rows.map((r) => [String(r.tenant_id), { seq: Number(r.seq), hash: String(r.hash) }]),
  );
  return confirmChain(batch, tenants, stored.rows.map((r) => String(r.session_id)), heads);
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
      } of ${fresh.length} session ends read as new were not inserted (already stored, or their chain position taken); batch rolled back`,
    );
  }
  await tx.batch(upsertChainHeadsSql([...new Set(fresh.map((r) => r.event.tenantId))], heads));
}

import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { ChainHeadCache, prepareBatch, prepareBatchInSlices } from "./chain_prep.ts";
import type { Database } from "./client.ts";
import { commitBatch, storeBatch } from "./commit.ts";
import {
  assertChain,
  incoming,
  NOW,
  sessionId,
  sessionRows,
  TENANT,
  withDb,
} from "../../tests/store_fixture.ts";

// Chains computed ahead of the transaction (src/store/chain_prep.ts) and committed by
// commitBatch, which confirms or recomputes them.

/** Runs `fn` on a database where the tenant's first row was committed through `cache`. */
function withFirstRowCommitted(
  fn: (db: Database, cache: ChainHeadCache) => Promise<void>,
): Promise<void> {
  return withDb(async (db) => {
    const cache = new ChainHeadCache();
    await commitBatch(db, prepareBatch([incoming(1)], [], cache, NOW), cache);
    await fn(db, cache);
  });
}

Deno.test("a batch prepared while the previous one commits extends the chain it left", async () => {
  await withDb(async (db) => {
    const cache = new ChainHeadCache();
    const first = prepareBatch([incoming(1), incoming(2)], [], cache, NOW);
    const second = prepareBatch([incoming(3), incoming(4)], [], cache, NOW + 1);
    deepStrictEqual(second.ahead?.assumed.get(TENANT), first.ahead?.heads.get(TENANT));
    await commitBatch(db, first, cache);
    const generation = cache.generation;
    const outcome = await commitBatch(db, second, cache);
    deepStrictEqual([...outcome.inserted], [sessionId(3), sessionId(4)]);
    equal(cache.generation, generation, "both committed as prepared");
    await assertChain(db, [
      [incoming(1), NOW],
      [incoming(2), NOW],
      [incoming(3), NOW + 1],
      [incoming(4), NOW + 1],
    ]);
  });
});

Deno.test("a chain prepared from a head another worker has moved is computed again", async () => {
  await withFirstRowCommitted(async (db, cache) => {
    const prepared = prepareBatch([incoming(3)], [], cache, NOW);
    equal(prepared.ahead?.assumed.get(TENANT)?.seq, 1);
    await storeBatch(db, [incoming(2)], [], NOW); // another worker, same database
    const generation = cache.generation;
    deepStrictEqual([...(await commitBatch(db, prepared, cache)).inserted], [sessionId(3)]);
    await assertChain(db, [[incoming(1), NOW], [incoming(2), NOW], [incoming(3), NOW]]);
    equal(cache.generation, generation + 1, "batches prepared after it are stale");
    equal(cache.expected(TENANT).seq, 3, "the cache learnt the head written");
  });
});

Deno.test("a prepared batch with a session already stored skips it and keeps the chain whole", async () => {
  await withFirstRowCommitted(async (db, cache) => {
    const outcome = await commitBatch(
      db,
      prepareBatch(
        [incoming(2), incoming(1, { reason: "idle_timeout" }), incoming(3)],
        [],
        cache,
        NOW + 1,
      ),
      cache,
    );
    deepStrictEqual([...outcome.inserted], [sessionId(2), sessionId(3)]);
    equal((await sessionRows(db))[0].reason, "normal", "the stored row is left alone");
    await assertChain(db, [[incoming(1), NOW], [incoming(2), NOW + 1], [incoming(3), NOW + 1]]);
  });
});

Deno.test("after a failed batch, a batch prepared on its heads is computed again from the database", async () => {
  await withFirstRowCommitted(async (db, cache) => {
    const failing = prepareBatch([incoming(2)], [], cache, NOW);
    const next = prepareBatch([incoming(3)], [], cache, NOW);
    await db.execute(`CREATE TRIGGER fail BEFORE INSERT ON session_ends
      WHEN NEW.session_id = '${sessionId(2)}' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
    await rejects(commitBatch(db, failing, cache), /disk on fire/);
    equal(cache.expected(TENANT).seq, 1, "the failed batch's heads are forgotten");
    deepStrictEqual([...(await commitBatch(db, next, cache)).inserted], [sessionId(3)]);
    await assertChain(db, [[incoming(1), NOW], [incoming(3), NOW]]);
  });
});

Deno.test("a batch whose preparation a failed commit interrupts is stale and leaves no heads", async () => {
  await withFirstRowCommitted(async (db, cache) => {
    const failing = prepareBatch([incoming(2)], [], cache, NOW);
    await db.execute(`CREATE TRIGGER fail BEFORE INSERT ON session_ends
      WHEN NEW.session_id = '${sessionId(2)}' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
    let failed = false;
    const pause = async () => {
      if (failed) return;
      failed = true;
      await rejects(commitBatch(db, failing, cache), /disk on fire/);
    };
    const interrupted = await prepareBatchInSlices(
      [incoming(3), incoming(4)],
      [],
      cache,
      pause,
      1,
      NOW,
    );
    ok(interrupted.ahead && interrupted.ahead.generation !== cache.generation, "stale");
    equal(cache.expected(TENANT).seq, 1, "its heads were not recorded as expected");
    await db.execute("DROP TRIGGER fail");
    const again = prepareBatch([incoming(3), incoming(4)], [], cache, NOW);
    deepStrictEqual([...(await commitBatch(db, again, cache)).inserted], [
      sessionId(3),
      sessionId(4),
    ]);
    await assertChain(db, [[incoming(1), NOW], [incoming(3), NOW], [incoming(4), NOW]]);
  });
});

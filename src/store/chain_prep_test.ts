import { deepStrictEqual, equal, strictEqual } from "node:assert/strict";
import { canonicalRowV2 } from "../integrity/canonical.ts";
import { chainHash, type ChainHead, GENESIS_HEAD } from "../integrity/chain.ts";
import {
  ChainHeadCache,
  chainNewRows,
  confirmChain,
  prepareBatch,
  prepareBatchInSlices,
} from "./chain_prep.ts";
import type { CurrentVersion, IncomingSessionEnd } from "./session_end_sql.ts";
import { incoming, NOW, sessionId, TENANT } from "../../tests/store_fixture.ts";

const OTHER = "1b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3";

/** The head after `row` is chained at `seq` on `previous`, computed here from the encoding. */
function link(
  row: IncomingSessionEnd,
  seq: number,
  previous: string,
  corrects: number | null = null,
): ChainHead {
  const fields = { ...row.event, chainSeq: seq, recordedAt: NOW, streamSeq: row.streamSeq };
  return { seq, hash: chainHash(previous, canonicalRowV2({ ...fields, corrects })) };
}

/** Session `n`'s version stored at chain position `chainSeq`, decided by stream sequence `streamSeq`. */
function stored(n: number, streamSeq: number, chainSeq: number, tenantId = TENANT): [
  string,
  CurrentVersion,
] {
  return [sessionId(n), { id: 100 + n, tenantId, streamSeq, chainSeq }];
}

const NOTHING = new Map<string, CurrentVersion>();

/** The `session_id` and chain position of each row. */
function positions(rows: IncomingSessionEnd[]): Array<[string, number | undefined]> {
  return rows.map((r) => [r.event.sessionId, r.chain?.seq]);
}

// --- chaining ----------------------------------------------------------------------------------

Deno.test("each new session takes the next position of its own tenant's chain, hashed on the one before", () => {
  const a1 = incoming(1);
  const b2 = incoming(2, { tenantId: OTHER });
  const a3 = incoming(3);
  const start: ChainHead = { seq: 5, hash: "a".repeat(64) };
  const heads = new Map([[TENANT, start]]);
  const { fresh } = chainNewRows([a1, b2, a3], NOTHING, heads, NOW);
  const a6 = link(a1, 6, start.hash);
  const b1 = link(b2, 1, GENESIS_HEAD.hash);
  const a7 = link(a3, 7, a6.hash);
  deepStrictEqual(fresh.map((r) => r.chain), [a6, b1, a7]);
  deepStrictEqual(heads, new Map([[TENANT, a7], [OTHER, b1]]), "the heads moved in place");
});

Deno.test("a session stored by an earlier event, or repeated in the batch, takes one position", () => {
  const rows = [incoming(1, { reason: "idle_timeout" }, 5), incoming(2, {}, 6), incoming(1, {}, 7)];
  const { fresh } = chainNewRows(
    [...rows, incoming(3, {}, 8)],
    new Map([stored(2, 4, 1)]),
    new Map(),
    NOW,
  );
  deepStrictEqual(positions(fresh), [[sessionId(1), 1], [sessionId(3), 2]]);
  equal(fresh[0].event.reason, "idle_timeout", "the earlier event of the session is kept");
});

Deno.test("in a batch, the earliest event of a session by stream sequence decides, wherever it is", () => {
  // Delivered out of order (a redelivery after a failure): `normal` (seq 9) before `idle_timeout` (seq 8).
  const normal = incoming(1, { reason: "normal" }, 9);
  const idle = incoming(1, { reason: "idle_timeout" }, 8);
  const { fresh } = chainNewRows([normal, incoming(2, {}, 3), idle], NOTHING, new Map(), NOW);
  deepStrictEqual(positions(fresh), [[sessionId(1), 1], [sessionId(2), 2]], "at the first's place");
  equal(fresh[0].event.reason, "idle_timeout");
  equal(fresh[0].streamSeq, 8);
});

Deno.test("an event earlier than the stored version appends a correction that names it", () => {
  const idle = incoming(1, { reason: "idle_timeout" }, 4);
  const heads = new Map([[TENANT, { seq: 3, hash: "c".repeat(64) }]]);
  const current = new Map([stored(1, 5, 2)]);
  const { fresh, conflicts } = chainNewRows([idle], current, heads, NOW);
  deepStrictEqual(positions(fresh), [[sessionId(1), 4]]);
  deepStrictEqual(fresh[0].corrects, current.get(sessionId(1)));
  deepStrictEqual(fresh[0].chain, link(idle, 4, "c".repeat(64), 2), "`corrects` is hashed");
  deepStrictEqual(conflicts, []);
});

Deno.test("an event of a session stored for another tenant is a conflict, not a correction", () => {
  const foreign = incoming(1, { reason: "idle_timeout" }, 4);
  const current = new Map([stored(1, 5, 2, OTHER)]);
  const { fresh, conflicts } = chainNewRows([foreign], current, new Map(), NOW);
  deepStrictEqual(fresh, []);
  deepStrictEqual(conflicts, [{ row: foreign, current: current.get(sessionId(1)) }]);
});

Deno.test("a batch prepared in slices is the batch prepared at once", async () => {
  const rows = [1, 2, 3, 2, 4, 5, 6, 7].map((n) => incoming(n));
  const atOnce = prepareBatch(rows, [], new ChainHeadCache(), NOW);
  let pauses = 0;
  const pause = () => {
    pauses++;
    return Promise.resolve();
  };
  const sliced = await prepareBatchInSlices(rows, [], new ChainHeadCache(), pause, 3, NOW);
  equal(pauses, 2, "a pause after every 3 rows");
  deepStrictEqual(sliced.ahead?.fresh, atOnce.ahead?.fresh);
  deepStrictEqual(sliced.ahead?.heads, atOnce.ahead?.heads);
  equal(sliced.ahead?.fresh.length, 7, "the repeated session across slices is kept once");
});

// --- the cache of chain heads ------------------------------------------------------------------

Deno.test("without a cache nothing is computed ahead", () => {
  equal(prepareBatch([incoming(1)], [], undefined, NOW).ahead, undefined);
});

Deno.test("a batch prepared from the cache starts where the batches prepared before it end", () => {
  const cache = new ChainHeadCache();
  const first = prepareBatch([incoming(1), incoming(2)], [], cache, NOW);
  const second = prepareBatch([incoming(3, { tenantId: OTHER }), incoming(4)], [], cache, NOW);
  deepStrictEqual(first.ahead?.assumed, new Map([[TENANT, GENESIS_HEAD]]));
  deepStrictEqual(
    second.ahead?.assumed,
    new Map([[OTHER, GENESIS_HEAD], [TENANT, first.ahead?.heads.get(TENANT)]]),
  );
  deepStrictEqual(positions(second.ahead?.fresh ?? []), [[sessionId(3), 1], [sessionId(4), 3]]);
  deepStrictEqual(cache.expected(TENANT), second.ahead?.heads.get(TENANT));
});

Deno.test("a commit of a chain computed again makes the batches prepared before it stale", () => {
  const cache = new ChainHeadCache();
  const first = prepareBatch([incoming(1)], [], cache, NOW);
  prepareBatch([incoming(2)], [], cache, NOW);
  const generation = cache.generation;
  cache.committed(first.ahead?.heads ?? new Map(), true);
  equal(cache.generation, generation, "committed as prepared: nothing is stale");
  equal(cache.expected(TENANT).seq, 2, "the second batch is still expected");

  const moved = new Map([[TENANT, { seq: 9, hash: "9".repeat(64) }]]);
  cache.committed(moved, false);
  equal(cache.generation, generation + 1);
  deepStrictEqual(cache.expected(TENANT), moved.get(TENANT), "back to the heads committed");
});

Deno.test("after a failed transaction the heads of the batches prepared are forgotten", () => {
  const cache = new ChainHeadCache();
  const committed = prepareBatch([incoming(1)], [], cache, NOW);
  cache.committed(committed.ahead?.heads ?? new Map(), true);
  const stale = prepareBatch([incoming(2)], [], cache, NOW);
  cache.reset();
  deepStrictEqual(cache.expected(TENANT), committed.ahead?.heads.get(TENANT));
  cache.prepared(stale.ahead?.heads ?? new Map(), stale.ahead?.generation ?? -1);
  deepStrictEqual(
    cache.expected(TENANT),
    committed.ahead?.heads.get(TENANT),
    "a batch prepared before the reset records nothing",
  );
});

// --- confirming a chain computed ahead ---------------------------------------------------------

Deno.test("a chain computed ahead is used as is when nothing is stored and the heads are as assumed", () => {
  const batch = prepareBatch(
    [incoming(1), incoming(2, { tenantId: OTHER })],
    [],
    new ChainHeadCache(),
    NOW,
  );
  // A tenant with no row yet has no head in the database: it reads as the genesis head.
  const chain = confirmChain(batch, [TENANT, OTHER], NOTHING, new Map());
  strictEqual(chain.fresh, batch.ahead?.fresh, "the very rows prepared (the cache is told so)");
  strictEqual(chain.heads, batch.ahead?.heads);
});

Deno.test("a chain computed ahead is computed again when a session is stored already", () => {
  const batch = prepareBatch([incoming(1), incoming(2)], [], new ChainHeadCache(), NOW);
  const chain = confirmChain(batch, [TENANT], new Map([stored(1, 1, 1)]), new Map());
  deepStrictEqual(positions(chain.fresh), [[sessionId(2), 1]]);
  deepStrictEqual(chain.fresh[0].chain, link(incoming(2), 1, GENESIS_HEAD.hash));
});

Deno.test("a chain computed ahead is computed again from a head another worker has moved", () => {
  const batch = prepareBatch([incoming(3)], [], new ChainHeadCache(), NOW);
  const current: ChainHead = { seq: 2, hash: "e".repeat(64) };
  const chain = confirmChain(batch, [TENANT], NOTHING, new Map([[TENANT, current]]));
  const expected = link(incoming(3), 3, current.hash);
  deepStrictEqual(chain.fresh.map((r) => r.chain), [expected]);
  deepStrictEqual(chain.heads, new Map([[TENANT, expected]]));
});

Deno.test("a batch prepared without a cache is chained from the heads read", () => {
  const batch = prepareBatch([incoming(1), incoming(1)], [], undefined, NOW);
  const chain = confirmChain(batch, [TENANT], NOTHING, new Map());
  deepStrictEqual(positions(chain.fresh), [[sessionId(1), 1]]);
});

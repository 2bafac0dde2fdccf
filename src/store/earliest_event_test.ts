import { deepStrictEqual, equal, strictEqual } from "node:assert/strict";
import { incoming, sessionId, TENANT } from "../../tests/store_fixture.ts";
import { chainNewRows } from "./chain_prep.ts";
import { conflictError, decide, earliestBySession } from "./earliest_event.ts";
import type { CurrentVersion } from "./session_end_sql.ts";

const OTHER = "1b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3";

function version(streamSeq: number, tenantId = TENANT, chainSeq: number | null = 1) {
  return { id: 1, tenantId, streamSeq, chainSeq };
}

Deno.test("decide: none stored inserts, earlier corrects, later or equal is a duplicate", () => {
  equal(decide(undefined, incoming(1, {}, 5)), "insert");
  equal(decide(version(6), incoming(1, {}, 5)), "correct");
  equal(decide(version(5), incoming(1, {}, 5)), "duplicate", "the same event redelivered");
  equal(decide(version(4), incoming(1, {}, 5)), "duplicate");
  equal(decide(version(6, OTHER), incoming(1, {}, 5)), "conflict");
  equal(decide(version(4, OTHER), incoming(1, {}, 5)), "conflict");
  equal(decide(version(6, TENANT, null), incoming(1, {}, 5)), "duplicate", "nothing to link to");
});

Deno.test("earliestBySession keeps the earliest event of each session at its first place", () => {
  const rows = [incoming(1, {}, 9), incoming(2, {}, 3), incoming(1, {}, 8), incoming(1, {}, 10)];
  deepStrictEqual(earliestBySession(rows).map((r) => [r.event.sessionId, r.streamSeq]), [
    [sessionId(1), 8],
    [sessionId(2), 3],
  ]);
  const distinct = [incoming(1), incoming(2)];
  strictEqual(earliestBySession(distinct), distinct, "no repeat: the same array, nothing copied");
});

Deno.test("the conflict error names both tenants", () => {
  equal(
    conflictError(incoming(1, {}, 5), version(6, OTHER)),
    `session_id ${sessionId(1)} is stored for tenant ${OTHER}; this event names tenant ${TENANT}`,
  );
});

/** Every order of `items`. */
function* permutations<T>(items: T[]): Generator<T[]> {
  if (items.length <= 1) {
    yield items;
    return;
  }
  for (let i = 0; i < items.length; i++) {
    const rest = [...items.slice(0, i), ...items.slice(i + 1)];
    for (const tail of permutations(rest)) yield [items[i], ...tail];
  }
}

Deno.test("whatever the delivery order and batching, the session ends as its earliest event", () => {
  // Four events of one session (an idle pair, a redelivery, a re-publication) and one other.
  const events = [
    incoming(1, { reason: "idle_timeout" }, 11),
    incoming(1, { reason: "normal" }, 12),
    incoming(1, { reason: "normal" }, 12),
    incoming(1, { reason: "idle_timeout" }, 14),
    incoming(2, {}, 13),
  ];
  let orders = 0;
  for (const order of permutations(events)) {
    // Every way of cutting the order into consecutive batches (one commit each).
    for (let cuts = 0; cuts < 1 << (order.length - 1); cuts++) {
      const current = new Map<string, CurrentVersion>();
      const versions: number[] = [];
      const heads = new Map();
      let start = 0;
      for (let i = 1; i <= order.length; i++) {
        if (i < order.length && !(cuts & (1 << (i - 1)))) continue;
        const { fresh } = chainNewRows(order.slice(start, i), current, heads, 0);
        for (const row of fresh) {
          const chainSeq = row.chain?.seq ?? null;
          current.set(row.event.sessionId, {
            id: chainSeq ?? 0,
            tenantId: row.event.tenantId,
            streamSeq: row.streamSeq,
            chainSeq,
          });
          if (row.event.sessionId === sessionId(1)) versions.push(row.streamSeq);
        }
        start = i;
      }
      orders++;
      equal(current.get(sessionId(1))?.streamSeq, 11, `order ${order.map((r) => r.streamSeq)}`);
      equal(current.get(sessionId(2))?.streamSeq, 13);
      // Each version is earlier than the one it replaced: a correction never goes back.
      deepStrictEqual(versions, [...versions].sort((a, b) => b - a));
    }
  }
  equal(orders, 120 * 16);
});

import { deepStrictEqual, equal } from "node:assert/strict";
import {
  canonicalRow,
  type ChainedFields,
  chainHash,
  ChainVerifier,
  GENESIS_HASH,
  type StoredChainRow,
} from "./chain.ts";

const TENANT = "11111111-1111-4111-8111-111111111111";

function fields(seq: number): ChainedFields {
  return {
    chainSeq: seq,
    sessionId: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    tenantId: TENANT,
    deviceId: "22222222-2222-4222-8222-222222222222",
    userId: seq % 2 ? null : "33333333-3333-4333-8333-333333333333",
    startTime: 1_773_309_600_000,
    endTime: 1_773_309_600_000 + seq * 1000,
    durationSeconds: seq,
    sourceIp: "203.0.113.7",
    reason: "normal",
    recordedAt: 1_773_400_000_000,
  };
}

/** A correct chain of `n` rows. */
function chain(n: number): StoredChainRow[] {
  const rows: StoredChainRow[] = [];
  let previous = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const f = fields(seq);
    previous = chainHash(previous, canonicalRow(f));
    rows.push({ ...f, chainHash: previous });
  }
  return rows;
}

function verify(rows: StoredChainRow[]) {
  const verifier = new ChainVerifier();
  for (const row of rows) verifier.push(row);
  return { broken: verifier.finish(), verifier };
}

Deno.test("the canonical encoding and hash match the documented test vector", () => {
  const f = fields(1);
  equal(
    canonicalRow(f),
    '["sa1",1,"00000000-0000-4000-8000-000000000001","11111111-1111-4111-8111-111111111111",' +
      '"22222222-2222-4222-8222-222222222222",null,1773309600000,1773309601000,1,"203.0.113.7",' +
      '"normal",1773400000000]',
  );
  // sha256("000…000\n" + canonical), computed independently with `sha256sum`.
  equal(
    chainHash(GENESIS_HASH, canonicalRow(f)),
    "590cfb59fa722c35901adf24f428053b41db6c35d45d21703664673fea96fdbf",
  );
});

Deno.test("an untouched chain verifies and reports its head", () => {
  const rows = chain(50);
  const { broken, verifier } = verify(rows);
  equal(broken, null);
  equal(verifier.rowsChecked, 50);
  deepStrictEqual(verifier.head, { seq: 50, hash: rows[49].chainHash });
});

Deno.test("a changed field is named altered at its row", () => {
  const rows = chain(10);
  rows[4] = { ...rows[4], reason: "shutdown" };
  const { broken } = verify(rows);
  equal(broken?.problem, "altered");
  equal(broken?.session_id, rows[4].sessionId);
});

Deno.test("a deleted row is named missing at the row after the gap", () => {
  const rows = chain(10);
  rows.splice(3, 1);
  const { broken } = verify(rows);
  equal(broken?.problem, "missing");
  equal(broken?.chain_seq, 4);
  equal(broken?.session_id, rows[3].sessionId);
});

Deno.test("a row without a chain position, or claiming a taken one, is named inserted", () => {
  const rows = chain(6);
  const forged = { ...fields(99), chainSeq: null, chainHash: null };
  const withUnchained = [...rows.slice(0, 2), forged, ...rows.slice(2)];
  equal(verify(withUnchained).broken?.problem, "inserted");
  const duplicateSeq = [...rows.slice(0, 3), { ...rows[2], sessionId: "forged" }, ...rows.slice(3)];
  equal(verify(duplicateSeq).broken?.problem, "inserted");
});

Deno.test("two rows swapped between positions are named altered", () => {
  const rows = chain(8);
  const a = rows[2];
  const b = rows[5];
  rows[2] = { ...b, chainSeq: a.chainSeq, chainHash: a.chainHash };
  rows[5] = { ...a, chainSeq: b.chainSeq, chainHash: b.chainHash };
  const { broken } = verify(rows);
  equal(broken?.problem, "altered");
  equal(broken?.chain_seq, 3);
});

Deno.test("a rewritten chain disagrees with a signed checkpoint; a truncated one falls short of it", () => {
  const rows = chain(10);
  const checkpoint = { seq: 8, hash: rows[7].chainHash as string };
  // Truncation: the last three rows deleted, the rest intact.
  const truncated = new ChainVerifier();
  for (const row of rows.slice(0, 7)) truncated.push(row);
  equal(truncated.finish([checkpoint])?.problem, "missing");
  // Rewrite: row 2 changed and every later hash recomputed, so the chain alone looks fine.
  let previous = rows[0].chainHash as string;
  const rewritten = [rows[0]];
  for (const row of rows.slice(1)) {
    const changed = row.chainSeq === 2 ? { ...row, reason: "shutdown" } : row;
    previous = chainHash(
      previous,
      canonicalRow({ ...changed, chainSeq: changed.chainSeq as number }),
    );
    rewritten.push({ ...changed, chainHash: previous });
  }
  const verifier = new ChainVerifier();
  const hashAt = new Map<number, string>();
  for (const row of rewritten) {
    verifier.push(row);
    hashAt.set(row.chainSeq as number, row.chainHash as string);
  }
  equal(verifier.broken, null, "the chain itself is consistent");
  equal(verifier.finish([checkpoint], hashAt)?.problem, "altered");
});

Deno.test("verification can start from a purge anchor", () => {
  const rows = chain(10);
  const verifier = new ChainVerifier({ seq: 4, hash: rows[3].chainHash as string });
  for (const row of rows.slice(4)) verifier.push(row);
  equal(verifier.finish(), null);
  equal(verifier.rowsChecked, 6);
});

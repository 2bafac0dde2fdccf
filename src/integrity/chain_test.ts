import { deepStrictEqual, equal, match } from "node:assert/strict";
import { canonicalRow, canonicalRowV1, canonicalRowV2, type ChainedFields } from "./canonical.ts";
import { chainHash, ChainVerifier, GENESIS_HASH, type StoredChainRow } from "./chain.ts";
import { chainFields } from "../testing/chain_fields.ts";

const fields = chainFields;

/** Rows holding `contents` in order, each chained (with its version) after the one before. */
function chained(
  contents: Array<ChainedFields & { chainVersion?: number; correctedBy?: number | null }>,
): StoredChainRow[] {
  const rows: StoredChainRow[] = [];
  let previous = GENESIS_HASH;
  for (const f of contents) {
    const version = f.chainVersion ?? 2;
    const canonical = canonicalRow(f, version);
    if (!canonical.ok) throw new Error(canonical.problem);
    previous = chainHash(previous, canonical.text);
    rows.push({
      ...f,
      chainVersion: version,
      correctedBy: f.correctedBy ?? null,
      chainHash: previous,
    });
  }
  return rows;
}

/** A correct chain of `n` rows, of canonical `version`. */
function chain(n: number, version = 2): StoredChainRow[] {
  return chained(
    Array.from({ length: n }, (_, i) => ({ ...fields(i + 1), chainVersion: version })),
  );
}

function verify(rows: StoredChainRow[]) {
  const verifier = new ChainVerifier();
  for (const row of rows) verifier.push(row);
  return { broken: verifier.finish(), verifier };
}

Deno.test("each version's encoding and hash match the README's test vectors", () => {
  const v2: ChainedFields = {
    ...fields(1),
    sourceIp: "198.51.100.23",
    sourcePort: 53122,
    reason: "idle_timeout",
    anomalies: [{ field: "user_id", value: "nobody", problem: "not a UUID" }],
    streamSeq: 7,
  };
  const vectors: Array<[string, string, string]> = [
    [
      canonicalRowV1(fields(1)),
      '["sa1",1,"00000000-0000-4000-8000-000000000001","11111111-1111-4111-8111-111111111111",' +
      '"22222222-2222-4222-8222-222222222222",null,1773309600000,1773309601000,1,"203.0.113.7",' +
      '"normal",1773400000000]',
      "590cfb59fa722c35901adf24f428053b41db6c35d45d21703664673fea96fdbf",
    ],
    [
      canonicalRowV2(v2),
      '["sa2",1,"00000000-0000-4000-8000-000000000001","11111111-1111-4111-8111-111111111111",' +
      '"22222222-2222-4222-8222-222222222222",null,1773309600000,1773309601000,1,' +
      '"198.51.100.23",53122,"idle_timeout",[["user_id","nobody","not a UUID"]],7,null,' +
      "1773400000000]",
      "f6455b09a34f99f02be69c8ad1cb69ffe99afeade3baf99da17bc3425a7d2fa3",
    ],
  ];
  for (const [canonical, text, hash] of vectors) {
    equal(canonical, text);
    // sha256("000…000\n" + canonical), computed independently with `sha256sum`.
    equal(chainHash(GENESIS_HASH, canonical), hash);
  }
});

Deno.test("a chain of version 1 rows continued with version 2 rows verifies", () => {
  const old = Array.from({ length: 5 }, (_, i) => ({ ...fields(i + 1), chainVersion: 1 }));
  const fresh = Array.from({ length: 5 }, (_, i) => ({
    ...fields(i + 6),
    sourcePort: 40_000 + i,
    anomalies: [{ field: "reason", value: "a\u0007", problem: "contains a control character" }],
  }));
  const { broken, verifier } = verify(chained([...old, ...fresh]));
  equal(broken, null);
  equal(verifier.rowsChecked, 10);
});

Deno.test("a row's version marker changed is altered: each version encodes differently", () => {
  for (const [from, to] of [[1, 2], [2, 1]]) {
    const rows = chain(4, from);
    rows[1] = { ...rows[1], chainVersion: to };
    const { broken } = verify(rows);
    equal(broken?.problem, "altered", `${from} -> ${to}`);
    equal(broken?.chain_seq, 2);
  }
  const unknown = chain(3);
  unknown[2] = { ...unknown[2], chainVersion: 3 };
  match(verify(unknown).broken?.detail ?? "", /unknown chain version 3/);
});

Deno.test("what version 2 adds is covered: a port, anomalies or the event's stream sequence changed", () => {
  const base = chained(
    Array.from({ length: 3 }, (_, i) => ({
      ...fields(i + 1),
      sourcePort: 22,
      anomalies: [{ field: "source_ip", value: "unknown", problem: "not an IP address" }],
    })),
  );
  const edits: Array<Partial<StoredChainRow>> = [
    { sourcePort: 23 },
    { anomalies: [] },
    { anomalies: [{ field: "source_ip", value: "unknown2", problem: "not an IP address" }] },
    { streamSeq: 99 },
  ];
  for (const edit of edits) {
    const rows = [...base];
    rows[1] = { ...rows[1], ...edit };
    equal(verify(rows).broken?.problem, "altered", JSON.stringify(edit));
  }
  // A version 1 row cannot be given what version 1 does not cover.
  const old = chain(3, 1);
  old[1] = { ...old[1], anomalies: [{ field: "reason", value: "x", problem: "hidden" }] };
  equal(verify(old).broken?.problem, "altered");
});

/** Rows 1-5 where row 5 corrects row 3 (an earlier event of session 3 arrived later). */
function corrected(change: Partial<ChainedFields> = {}): StoredChainRow[] {
  const contents = Array.from({ length: 4 }, (_, i) => ({ ...fields(i + 1), streamSeq: 10 + i }));
  const correction = {
    ...fields(5),
    sessionId: contents[2].sessionId,
    reason: "idle_timeout",
    streamSeq: 9, // earlier in the stream than row 3's event (12)
    corrects: 3,
    ...change,
  };
  return chained([
    contents[0],
    contents[1],
    { ...contents[2], correctedBy: 5 },
    contents[3],
    correction,
  ]);
}

Deno.test("a chain with a correction verifies; the correction and its mark are both checked", () => {
  equal(verify(corrected()).broken, null);
});

Deno.test("tampering with a correction is found", async (t) => {
  const cases: Array<[string, (rows: StoredChainRow[]) => void, RegExp]> = [
    ["its content changed", (r) => (r[4] = { ...r[4], reason: "normal" }), /chain hash/],
    ["the mark cleared", (r) => (r[2] = { ...r[2], correctedBy: null }), /does not name it back/],
    ["another row marked", (r) => (r[1] = { ...r[1], correctedBy: 5 }), /does not correct it/],
    ["the mark moved", (r) => (r[2] = { ...r[2], correctedBy: 4 }), /does not correct it|back/],
  ];
  for (const [name, tamper, detail] of cases) {
    await t.step(name, () => {
      const rows = corrected();
      tamper(rows);
      const { broken } = verify(rows);
      equal(broken?.problem, "altered");
      match(broken?.detail ?? "", detail);
    });
  }
  await t.step("the correction deleted", () => {
    const rows = corrected().slice(0, 4);
    const verifier = new ChainVerifier();
    for (const row of rows) verifier.push(row);
    const broken = verifier.finish(5);
    equal(broken?.problem, "missing");
  });
});

Deno.test("a correction must come from an earlier event of the same session", () => {
  const build = corrected;
  match(verify(build({ streamSeq: 13 })).broken?.detail ?? "", /from a later event/);
  match(verify(build({ sessionId: fields(4).sessionId })).broken?.detail ?? "", /another session/);
});

Deno.test("a correction of a purged position verifies from the purge anchor", () => {
  const rows = corrected();
  const verifier = new ChainVerifier({ seq: 3, hash: rows[2].chainHash as string });
  for (const row of rows.slice(3)) verifier.push(row);
  equal(verifier.finish(), null);
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
  const forged = {
    ...fields(99),
    chainVersion: 2,
    correctedBy: null,
    chainSeq: null,
    chainHash: null,
  };
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
  const early = { seq: 1, hash: rows[0].chainHash as string, label: "checkpoint 1" };
  const checkpoint = { seq: 8, hash: rows[7].chainHash as string, label: "checkpoint 2" };
  // Truncation: the last three rows deleted, the rest intact.
  const truncated = new ChainVerifier(undefined, [checkpoint]);
  for (const row of rows.slice(0, 7)) truncated.push(row);
  const cut = truncated.finish();
  equal(cut?.problem, "missing");
  equal(cut?.chain_seq, 8, "the first position the chain lacks");
  // Rewrite: row 2 changed and every later hash recomputed, so the chain alone looks fine.
  let previous = rows[0].chainHash as string;
  const rewritten = [rows[0]];
  for (const row of rows.slice(1)) {
    const changed = row.chainSeq === 2 ? { ...row, reason: "shutdown" } : row;
    previous = chainHash(
      previous,
      canonicalRowV2({ ...changed, chainSeq: changed.chainSeq as number }),
    );
    rewritten.push({ ...changed, chainHash: previous });
  }
  const verifier = new ChainVerifier(undefined, [early, checkpoint]);
  for (const row of rewritten) verifier.push(row);
  equal(verifier.broken, null, "the chain itself is consistent");
  const broken = verifier.finish();
  equal(broken?.problem, "altered");
  equal(broken?.chain_seq, 2, "the rewrite lies after the last checkpoint that still matches");
  match(broken?.detail ?? "", /between positions 2 and 8/);
  equal(verifier.vouchedSeq, 1);
});

Deno.test("verification can start from a purge anchor", () => {
  const rows = chain(10);
  const verifier = new ChainVerifier({ seq: 4, hash: rows[3].chainHash as string });
  for (const row of rows.slice(4)) verifier.push(row);
  equal(verifier.finish(), null);
  equal(verifier.rowsChecked, 6);
});

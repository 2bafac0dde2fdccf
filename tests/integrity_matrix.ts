/**
 * The adversarial matrix: every move of the threat model's attacker (who
 * can write the database and knows this code, but holds no signing key),
 * and what each verifier reports in each configuration — the first broken
 * position, or `ok` where the move is out of reach (the README says why).
 * `tests/integrity_matrix_*_test.ts` run it; the README's table is
 * rendered from it ({@linkcode renderMatrix}), and a test keeps them equal.
 *
 * Positions (tenant T, see `integrity_matrix_kit.ts`): checkpoints at 10,
 * 20, 30, 40 and 50; 51-55 stored since the last one; 31 corrects 11;
 * purged: 1-10 gone, the purge anchor at 10.
 *
 * @module
 */
import { type InValue } from "@libsql/client";
import { hmacSigner } from "../src/integrity/signing.ts";
import { canonicalRow } from "../src/integrity/canonical.ts";
import { chainHash } from "../src/integrity/chain.ts";
import { checkpointText } from "../src/integrity/checkpoint_record.ts";
import { ed25519Signer, generateEd25519 } from "../src/integrity/signing.ts";
import { parseExport } from "../src/integrity/verify_export.ts";
import type { Attacker } from "./integrity_attacker.ts";
import { type Config, CONFIGS, type Fixture, type Outcome, T, U } from "./integrity_matrix_kit.ts";

/** What one verifier reports in each configuration. */
export type Expect = Record<Config, Outcome>;

/** One move of the attacker. */
export interface Move {
  /** The move of the issue it belongs to. */
  group: string;
  /** What is done (unique). */
  name: string;
  /** Moves of one README row (same verdicts): the row's text. */
  row?: string;
  /** Only on the fixture with (or without) a retention purge. */
  when?: "fresh" | "purged";
  /** Only meaningful where the service signs (the unsigned fixture has nothing to forge). */
  signedOnly?: boolean;
  /** The change to the database, if any. */
  tamper?: (a: Attacker, f: Fixture) => Promise<void>;
  /** The change to the export, if any. */
  editExport?: (text: string) => string;
  /** `/v1/integrity` and `deno task verify` on the database. */
  db: Expect;
  /** `deno task verify --export` on its export. */
  export: Expect;
  /** What differs after a purge. */
  purged?: { db?: Expect; export?: Expect };
  /** Why what is not detected is out of reach. */
  why?: string;
}

const OK = "ok";
/** Not applicable: the move leaves this verifier's input as it was (verified `ok`). */
export const NA = "n/a";
const untouched: Expect = { none: NA, copy: NA, key: NA, "key+copy": NA };
/** Detected in every configuration. */
const everywhere = (o: Outcome): Expect => ({ none: o, copy: o, key: o, "key+copy": o });
/** Detected with a key or with the copy (without either, anyone can re-hash). */
const keyOrCopy = (o: Outcome): Expect => ({ none: OK, copy: o, key: o, "key+copy": o });
/** Detected only against the independent copy. */
const withCopy = (o: Outcome): Expect => ({ none: OK, copy: o, key: OK, "key+copy": o });
/** Detected only with a key (the signatures). */
const withKey = (o: Outcome): Expect => ({ none: OK, copy: OK, key: o, "key+copy": o });
/** Not detected. */
const nowhere: Expect = everywhere(OK);

/**
 * A change re-hashed from `fromSeq` on, with the recorded head and the
 * unsigned checkpoints brought along: seen with a key or the copy only,
 * as the range since the last checkpoint that still matches (`seq`).
 */
function rehashed(
  group: string,
  name: string,
  change: (a: Attacker) => Promise<void>,
  fromSeq: number,
  seq: number,
  why = "as above",
): Move {
  return {
    group,
    name,
    tamper: async (a) => {
      await change(a);
      await a.cover(T, fromSeq);
    },
    db: keyOrCopy(`altered@${seq}`),
    export: withCopy(`altered@${seq}`),
    why,
  };
}

/** The reason of the row at `seq` changed, and every hash after it recomputed. */
async function alterAndRehash(a: Attacker, seq: number): Promise<void> {
  await a.update(T, seq, { reason: "shutdown" });
  await a.cover(T, seq);
}

/** Each line of an NDJSON export, parsed. */
function items(text: string): Record<string, unknown>[] {
  return text.trimEnd().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}
function lines(list: Record<string, unknown>[]): string {
  return list.map((i) => JSON.stringify(i) + "\n").join("");
}
/** Re-hashes an export's items from `fromSeq` on, as an attacker who knows the encoding would. */
function rehash(list: Record<string, unknown>[], fromSeq: number): Record<string, unknown>[] {
  const sorted = [...list].sort((a, b) => Number(a.chain_seq) - Number(b.chain_seq));
  const rows = parseExport(lines(sorted));
  let previous = String(sorted.find((i) => i.chain_seq === fromSeq - 1)?.chain_hash);
  sorted.forEach((item, i) => {
    if (Number(item.chain_seq) < fromSeq) return;
    const canonical = canonicalRow(
      { ...rows[i], chainSeq: rows[i].chainSeq as number },
      rows[i].chainVersion,
    );
    if (!canonical.ok) throw new Error(canonical.problem);
    previous = chainHash(previous, canonical.text);
    item.chain_hash = previous;
  });
  return sorted;
}
function editItem(text: string, seq: number, change: Record<string, unknown>): string {
  return lines(items(text).map((i) => i.chain_seq === seq ? { ...i, ...change } : i));
}

/** A field of position 25 altered, with what `session_ends` column and value. */
const FIELDS: Array<[string, InValue]> = [
  ["session_id", "00000000-dead-4000-8000-000000000025"],
  ["device_id", "dddddddd-0000-4000-8000-0000000000ff"],
  ["user_id", "eeeeeeee-0000-4000-8000-0000000000ff"],
  ["start_time", Date.UTC(2026, 2, 11)],
  ["end_time", Date.UTC(2026, 2, 11)],
  ["duration_seconds", 1],
  ["source_ip", "198.51.100.99"],
  ["source_port", 4242],
  ["reason", "shutdown"],
  ["anomalies", '[{"field":"reason","value":"x","problem":"made up"}]'],
  ["stream_seq", 1],
  ["corrects", 5],
  ["recorded_at", Date.UTC(2026, 2, 13)],
  ["chain_version", 1],
  ["chain_hash", "f".repeat(64)],
];

/** Swaps the positions (and hashes) of two of T's rows. */
async function swap(a: Attacker, x: number, y: number): Promise<void> {
  const [idX, idY] = [await a.idAt(T, x), await a.idAt(T, y)];
  const [rx] = await a.sql("SELECT chain_hash FROM session_ends WHERE id = ?", idX);
  const [ry] = await a.sql("SELECT chain_hash FROM session_ends WHERE id = ?", idY);
  await a.sql(
    "UPDATE session_ends SET chain_seq = ?, chain_hash = ? WHERE id = ?",
    y,
    String(ry.chain_hash),
    idX,
  );
  await a.sql(
    "UPDATE session_ends SET chain_seq = ?, chain_hash = ? WHERE id = ?",
    x,
    String(rx.chain_hash),
    idY,
  );
}

/** Moves T's row at `seq` to the end of U's chain, hashed as U's. */
async function moveToU(a: Attacker, seq: number): Promise<void> {
  const [{ key }] = await a.sql("SELECT key FROM id_keys WHERE value = ?", U);
  const head = await a.head(U);
  await a.update(T, seq, { tenant_id: U, tenant_key: Number(key), chain_seq: head.seq + 1 });
  const [moved] = await a.rows(U).then((rows) => rows.filter((r) => r.chainSeq === head.seq + 1));
  const canonical = canonicalRow({ ...moved, chainSeq: head.seq + 1 }, moved.chainVersion);
  if (!canonical.ok) throw new Error(canonical.problem);
  const hash = chainHash(head.hash, canonical.text);
  await a.update(U, head.seq + 1, { chain_hash: hash });
  await a.sql(
    "UPDATE chain_heads SET seq = ?, hash = ? WHERE tenant_id = ?",
    head.seq + 1,
    hash,
    U,
  );
}

/** The attacker's own Ed25519 key. */
const attackerKey = await ed25519Signer(await generateEd25519());

/** Every move, in the README's order. */
export const MOVES: readonly Move[] = [
  ...FIELDS.map(([column, value]): Move => ({
    group: "alter any field of a row",
    name: `\`${column}\` changed`,
    row: `one field changed, each in turn: ${FIELDS.map(([c]) => `\`${c}\``).join(", ")}`,
    tamper: (a) => a.update(T, 25, { [column]: value }),
    db: everywhere("altered@25"),
    export: everywhere("altered@25"),
  })),
  rehashed(
    "alter any field of a row",
    "a field changed, every later hash and the head recomputed (the unsigned checkpoints too)",
    (a) => a.update(T, 25, { reason: "shutdown" }),
    25,
    21,
    "without a key anyone can recompute the hashes; an export alone carries no checkpoint",
  ),
  {
    group: "delete a row",
    name: "a row deleted in the middle",
    tamper: (a) => a.deleteAt(T, "chain_seq = 25"),
    db: everywhere("missing@25"),
    export: everywhere("missing@25"),
  },
  rehashed(
    "delete a row",
    "a row deleted in the middle, the rest renumbered and re-hashed",
    async (a) => {
      await a.deleteAt(T, "chain_seq = 25");
      await a.renumber(T, 26, -1);
    },
    25,
    21,
  ),
  {
    group: "delete a row",
    name: "rows deleted at the tail, the recorded head left",
    tamper: (a) => a.deleteAt(T, "chain_seq >= 54"),
    db: everywhere("missing@54"),
    export: nowhere,
    why: "an export ends where it was made: a tail cut from it looks like an earlier export",
  },
  {
    group: "insert a row",
    name: "a row without a chain position",
    tamper: (a) => a.insertCopy(T, 25, null, { chain_hash: null }),
    db: everywhere("inserted@1"),
    export: everywhere("inserted@1"),
    purged: { db: everywhere("inserted@11") },
  },
  {
    group: "insert a row",
    name: "a row at a position already taken",
    // Listed after the genuine one (an older sort time), as a row slipped in later would be.
    tamper: (a) => a.insertCopy(T, 25, 25, { sort_time: 0 }),
    db: everywhere("inserted@25"),
    export: everywhere("inserted@25"),
  },
  rehashed(
    "insert a row",
    "a row in the middle, the rest renumbered and re-hashed",
    async (a) => {
      await a.renumber(T, 25, 1);
      await a.insertCopy(T, 26, 25);
    },
    25,
    21,
  ),
  {
    group: "insert a row",
    name: "a made-up row appended at the head, hashed, the head moved",
    tamper: async (a) => {
      await a.insertCopy(T, 55, 56);
      await a.cover(T, 56);
    },
    db: nowhere,
    export: nowhere,
    why:
      "the chain proves that stored rows stay as they were stored, not that a row came from the poller",
  },
  {
    group: "swap two rows",
    name: "two rows swapped",
    tamper: (a) => swap(a, 22, 27),
    db: everywhere("altered@22"),
    export: everywhere("altered@22"),
  },
  rehashed("swap two rows", "two rows swapped and re-hashed", (a) => swap(a, 22, 27), 22, 21),
  {
    group: "move a row to another tenant",
    name: "a row moved to the end of another tenant's chain, its place left empty",
    tamper: (a) => moveToU(a, 25),
    db: everywhere("missing@25"),
    export: everywhere("missing@25"),
  },
  rehashed(
    "move a row to another tenant",
    "a row moved to another tenant, its tenant's chain renumbered and re-hashed",
    async (a) => {
      await moveToU(a, 25);
      await a.renumber(T, 26, -1);
    },
    25,
    21,
  ),
  {
    group: "truncate the tail, rewind the head, delete the checkpoints above the cut",
    name: "rows after 35 deleted, the head rewound to 35, the checkpoints above deleted",
    tamper: async (a) => {
      await a.truncate(T, 35);
      await a.relink(T);
    },
    db: withCopy("missing@36"),
    export: nowhere,
    // The purge's checkpoint (number 6, signed) follows the ones deleted: the gap shows there.
    purged: { db: { none: OK, copy: "missing@36", key: "missing@10", "key+copy": "missing@36" } },
    why:
      "a chain cut short with its checkpoints looks like a chain that stopped there: only a copy kept outside the database remembers",
  },
  {
    group: "forge an unsigned checkpoint of each kind, with a key configured",
    name: "an unsigned purge checkpoint at the head (rows untouched)",
    tamper: async (a) => a.insertCheckpoint(await a.nextUnsigned(T, "purge", await a.head(T))),
    db: { none: "inserted@1", copy: "inserted@1", key: "forged@55", "key+copy": "forged@55" },
    export: untouched,
    purged: {
      db: { none: "inserted@11", copy: "inserted@11", key: "forged@55", "key+copy": "forged@55" },
    },
  },
  {
    group: "forge an unsigned checkpoint of each kind, with a key configured",
    name: "an unsigned periodic checkpoint at the head",
    tamper: async (a) => a.insertCheckpoint(await a.nextUnsigned(T, "periodic", await a.head(T))),
    db: withKey("forged@55"),
    export: untouched,
    why: "without a key every checkpoint is unsigned: one more proves nothing",
  },
  {
    group: "forge an unsigned checkpoint of each kind, with a key configured",
    name: "rows altered and re-hashed, then an unsigned purge checkpoint at the head",
    tamper: async (a) => {
      await alterAndRehash(a, 25);
      await a.insertCheckpoint(await a.nextUnsigned(T, "purge", await a.head(T)));
    },
    db: { none: "inserted@1", copy: "inserted@1", key: "altered@21", "key+copy": "altered@21" },
    export: withCopy("altered@21"),
    purged: {
      db: { none: "inserted@11", copy: "inserted@11", key: "altered@21", "key+copy": "altered@21" },
    },
  },
  {
    group: "forge an unsigned checkpoint of each kind, with a key configured",
    name: "every row deleted, then an unsigned purge checkpoint at the head",
    tamper: async (a) => {
      await a.deleteAt(T, "1 = 1");
      await a.insertCheckpoint(await a.nextUnsigned(T, "purge", await a.head(T)));
    },
    db: withKey("missing@1"),
    export: nowhere,
    purged: { db: withKey("missing@11") },
    why: "without a key a purge checkpoint anyone wrote is as good as the service's",
  },
  {
    group: "forge an unsigned checkpoint of each kind, with a key configured",
    name:
      "rows up to 53 deleted, an unsigned purge checkpoint at 53 appended after the signed ones, then a signed periodic checkpoint at the head chained over it",
    tamper: async (a, f) => {
      const cut = await a.rowAt(T, 53);
      await a.deleteAt(T, "chain_seq <= 53");
      await a.insertCheckpoint(await a.nextUnsigned(T, "purge", cut));
      // The service's checkpointer refuses to chain over it; this one is signed with its key.
      await a.insertCheckpoint(await a.nextSigned(T, "periodic", await a.head(T), f.keyring));
    },
    db: withKey("missing@1"),
    export: nowhere,
    purged: { db: withKey("missing@11") },
    why: "without a key a purge checkpoint anyone wrote is as good as the service's",
  },
  {
    group: "forge an unsigned checkpoint of each kind, with a key configured",
    name: "a checkpoint signed by another key under the real key id",
    signedOnly: true,
    tamper: async (a) => {
      const [c] = (await a.checkpoints(T)).filter((c) => c.ordinal === 3);
      await a.updateCheckpoint(T, 3, { signature: await attackerKey.sign!(checkpointText(c)) });
    },
    db: withKey("forged@30"),
    export: untouched,
  },
  {
    group: "downgrade a checkpoint's algorithm",
    name: "`ed25519` to `none`, the signature removed",
    signedOnly: true,
    tamper: (a) => a.updateCheckpoint(T, 3, { algorithm: "none", key_id: null, signature: "" }),
    db: withKey("forged@30"),
    export: untouched,
  },
  {
    group: "downgrade a checkpoint's algorithm",
    name: "`ed25519` to `hmac-sha256`, keyed with the public key",
    signedOnly: true,
    tamper: async (a, f) => {
      const [c] = (await a.checkpoints(T)).filter((c) => c.ordinal === 3);
      const downgraded = { ...c, algorithm: "hmac-sha256" };
      // The public key is public: a verifier that took it for an HMAC secret would accept this.
      const hmac = await hmacSigner(f.auditorEnv.AUDIT_SIGNING_ED25519_PUBLIC_KEY);
      await a.updateCheckpoint(T, 3, {
        algorithm: "hmac-sha256",
        signature: await hmac.sign!(checkpointText(downgraded)),
      });
    },
    db: withKey("forged@30"),
    export: untouched,
  },
  {
    group: "replay an older genuine checkpoint",
    name: "checkpoint 2 inserted again",
    tamper: async (a) => a.insertCheckpoint((await a.checkpoints(T))[1]),
    db: everywhere("inserted@20"),
    export: untouched,
  },
  {
    group: "replay an older genuine checkpoint",
    name: "checkpoint 2 replayed as the newest (renumbered, re-linked)",
    tamper: async (a) => {
      const chain = await a.checkpoints(T);
      const next = await a.nextUnsigned(T, "periodic", chain[1]);
      await a.insertCheckpoint({ ...chain[1], ordinal: next.ordinal, prevDigest: next.prevDigest });
    },
    db: withKey("forged@20"),
    export: untouched,
    why: "without a key, as an unsigned checkpoint: it vouches for a position that is intact",
  },
  {
    group: "delete a checkpoint",
    name: "checkpoint 3 deleted (the unsigned ones after it renumbered and re-linked)",
    tamper: async (a) => {
      await a.sql("DELETE FROM chain_checkpoints WHERE tenant_id = ? AND ordinal = 3", T);
      await a.relink(T);
    },
    db: { none: OK, copy: "altered@30", key: "missing@40", "key+copy": "missing@30" },
    export: untouched,
    // The purge's checkpoint, renumbered, is not the copy's.
    purged: { db: { none: OK, copy: "missing@10", key: "missing@40", "key+copy": "missing@30" } },
    why:
      "without a key the checkpoints after it are renumbered and re-linked like the service would",
  },
  {
    group: "delete a checkpoint",
    name: "checkpoint 3's time changed, the next not re-linked",
    tamper: (a) => a.updateCheckpoint(T, 3, { created_at: 1 }),
    db: { none: "altered@40", copy: "altered@30", key: "forged@30", "key+copy": "forged@30" },
    export: untouched,
  },
  {
    group: "delete every checkpoint",
    name: "every checkpoint of the tenant deleted",
    tamper: async (a) => void await a.sql("DELETE FROM chain_checkpoints WHERE tenant_id = ?", T),
    db: withCopy("missing@10"),
    export: untouched,
    purged: { db: everywhere("missing@1") },
    why:
      "before any purge, a chain without checkpoints is a chain not checkpointed yet (`checkpoint_seq` says 0)",
  },
  {
    group: "delete every checkpoint",
    name: "a whole tenant deleted: rows, head and checkpoints",
    tamper: async (a) => {
      await a.deleteAt(T, "1 = 1");
      await a.sql("DELETE FROM chain_heads WHERE tenant_id = ?", T);
      await a.sql("DELETE FROM chain_checkpoints WHERE tenant_id = ?", T);
    },
    db: withCopy("missing@1"),
    export: nowhere,
    why: "nothing of the tenant is left to verify",
  },
  {
    group: "leave rows at or below a purge anchor",
    name: "a purged row put back as it was",
    when: "purged",
    tamper: async (a, f) => {
      const row = f.purgedRow as Record<string, InValue>;
      const columns = Object.keys(row);
      await a.sql(
        `INSERT INTO session_ends (${columns.join(", ")}) VALUES (${
          columns.map(() => "?").join(", ")
        })`,
        ...columns.map((c) => row[c]),
      );
    },
    db: everywhere("inserted@5"),
    export: everywhere("missing@6"),
  },
  {
    group: "a correction",
    name: "a correction's content changed",
    tamper: (a) => a.update(T, 31, { reason: "normal" }),
    db: everywhere("altered@31"),
    export: everywhere("altered@31"),
  },
  rehashed(
    "a correction",
    "a correction's content changed and re-hashed",
    (a) => a.update(T, 31, { reason: "normal" }),
    31,
    31,
  ),
  {
    group: "a correction",
    name: "a correction's link moved to another session's row (marks moved, re-hashed)",
    tamper: async (a) => {
      await a.update(T, 31, { corrects: 12 });
      await a.update(T, 11, { corrected_by: null });
      await a.update(T, 12, { corrected_by: 31 });
      await a.cover(T, 31);
    },
    db: everywhere("altered@31"),
    export: everywhere("altered@31"),
  },
  {
    group: "a correction",
    name: "the `corrected_by` mark of the replaced version cleared",
    tamper: (a) => a.update(T, 11, { corrected_by: null }),
    db: everywhere("altered@31"),
    export: everywhere("altered@31"),
  },
  {
    group: "a correction",
    name: "a current version marked `corrected_by` by hand",
    tamper: (a) => a.update(T, 22, { corrected_by: 31 }),
    db: everywhere("altered@22"),
    export: everywhere("altered@22"),
  },
  {
    group: "a correction",
    name: "a correction deleted",
    tamper: (a) => a.deleteAt(T, "chain_seq = 31"),
    db: everywhere("missing@31"),
    export: everywhere("missing@31"),
  },
  rehashed(
    "a correction",
    "a correction deleted, its mark cleared, the rest renumbered and re-hashed",
    async (a) => {
      await a.deleteAt(T, "chain_seq = 31");
      await a.update(T, 11, { corrected_by: null });
      await a.renumber(T, 32, -1);
    },
    31,
    31,
  ),
  {
    group: "edit an export",
    name: "a field changed",
    editExport: (text) => editItem(text, 25, { reason: "shutdown" }),
    db: untouched,
    export: everywhere("altered@25"),
  },
  {
    group: "edit an export",
    name: "a field changed and every later hash recomputed",
    editExport: (text) => lines(rehash(items(editItem(text, 25, { reason: "shutdown" })), 25)),
    db: untouched,
    export: withCopy("altered@21"),
    why: "an export alone carries no checkpoint: give the copy with it",
  },
  {
    group: "edit an export",
    name: "a line deleted",
    editExport: (text) => lines(items(text).filter((i) => i.chain_seq !== 25)),
    db: untouched,
    export: everywhere("missing@25"),
  },
  {
    group: "edit an export",
    name: "a line added at a position already taken",
    editExport: (text) => {
      const list = items(text);
      const twin = list.find((i) => i.chain_seq === 25) as Record<string, unknown>;
      return lines([...list, { ...twin, session_id: crypto.randomUUID() }]);
    },
    db: untouched,
    export: everywhere("inserted@25"),
  },
  {
    group: "edit an export",
    name: "the last lines cut",
    editExport: (text) => lines(items(text).filter((i) => Number(i.chain_seq) < 54)),
    db: untouched,
    export: nowhere,
    why: "an export ends where it was made: a tail cut from it looks like an earlier export",
  },
  {
    group: "rows stored since the last checkpoint",
    name: "a row stored after the last checkpoint changed and re-hashed",
    tamper: (a) => alterAndRehash(a, 52),
    db: nowhere,
    export: nowhere,
    why:
      "nothing outside the rows vouches for them yet: the window is CHECKPOINT_INTERVAL_SECONDS (and the publish delay)",
  },
];

/** The expectations of `move` on a fixture. */
export function expected(move: Move, purged: boolean): { db: Expect; export: Expect } {
  return {
    db: (purged && move.purged?.db) || move.db,
    export: (purged && move.purged?.export) || move.export,
  };
}

/** Whether the move runs on this fixture. */
export function applies(move: Move, purged: boolean): boolean {
  return move.when === undefined || (move.when === "purged") === purged;
}

/** A verdict as the README writes it. */
function shown(o: Outcome): string {
  return o === OK ? "—" : o === NA ? NA : o.replace("@", " at ");
}

/** The four verdicts of one verifier, and what differs after a purge. */
function cell(move: Move, which: "db" | "export"): string {
  const configs = move.signedOnly
    ? CONFIGS.filter((c) => c === "key" || c === "key+copy")
    : CONFIGS;
  const four = (e: Expect) => {
    const values = configs.map((c) => shown(e[c]));
    const all = values.every((v) => v === values[0]);
    if (all && values[0] === NA) return NA;
    return all ? `${values[0]} (${move.signedOnly ? "both" : "all four"})` : values.join(" · ");
  };
  const fresh = four(expected(move, false)[which]);
  const purged = four(expected(move, true)[which]);
  if (move.when === "purged") return purged;
  return fresh === purged ? fresh : `${fresh}; after a purge: ${purged}`;
}

/** The README's table of the matrix, one row per move (moves sharing a `row`, once). */
export function renderMatrix(): string {
  const rows: string[] = [
    "| move | what the attacker does | `/v1/integrity` and `deno task verify`: no key · no key + copy · key · key + copy | `deno task verify --export`: the same four | where not detected, why |",
    "| --- | --- | --- | --- | --- |",
  ];
  const seen = new Set<string>();
  for (const move of MOVES) {
    const what = move.row ?? move.name;
    if (seen.has(what)) continue;
    seen.add(what);
    const text = [
      move.group,
      (move.when === "purged" ? `${what} (after a purge)` : what) +
      (move.signedOnly ? " (a signed database: key · key + copy)" : ""),
      cell(move, "db"),
      cell(move, "export"),
      move.why ?? "",
    ];
    rows.push(`| ${text.join(" | ")} |`);
  }
  return rows.join("\n");
}

if (import.meta.main) console.log(renderMatrix());

/**
 * The attacker of the threat model: reads and writes the database file
 * through a raw connection and knows this code, but holds no signing key.
 * Whatever they change, they can re-hash every later row and rewrite the
 * recorded head, and rewrite (and re-link) every unsigned checkpoint; they
 * cannot sign.
 *
 * @module
 */
import { type Client, createClient, type InValue } from "@libsql/client";
import { canonicalRow } from "../src/integrity/canonical.ts";
import { chainHash, GENESIS_HASH, type StoredChainRow } from "../src/integrity/chain.ts";
import {
  type CheckpointRecord,
  checkpointText,
  linkDigest,
  NO_PREDECESSOR,
} from "../src/integrity/checkpoint_record.ts";
import {
  CHECKPOINT_COLUMNS,
  checkpointOf,
  insertCheckpointSql,
} from "../src/integrity/checkpoints.ts";
import type { Keyring } from "../src/integrity/keyring.ts";
import { chainRowOf, ROW_COLUMNS } from "../src/integrity/verify.ts";

/** A raw connection to a database file, and the moves made with it. */
export class Attacker {
  readonly #raw: Client;

  private constructor(raw: Client) {
    this.#raw = raw;
  }

  /** Opens `path` and drops what would stop an edit (the unique indexes). */
  static async open(path: string): Promise<Attacker> {
    const raw = createClient({ url: `file:${path}` });
    for (
      const index of [
        "session_ends_by_chain",
        "session_ends_current",
        "chain_checkpoints_by_ordinal",
      ]
    ) {
      await raw.execute(`DROP INDEX IF EXISTS ${index}`);
    }
    return new Attacker(raw);
  }

  /** Opens `path`, makes the moves of `move` on it, and closes it. */
  static async with<T>(path: string, move: (a: Attacker) => Promise<T>): Promise<T> {
    const attacker = await Attacker.open(path);
    try {
      return await move(attacker);
    } finally {
      attacker.close();
    }
  }

  /** Closes the connection. */
  close(): void {
    this.#raw.close();
  }

  /** Runs a statement. */
  async sql(sql: string, ...args: InValue[]): Promise<Record<string, unknown>[]> {
    return (await this.#raw.execute({ sql, args })).rows;
  }

  /** A tenant's rows in chain order. */
  async rows(tenantId: string): Promise<StoredChainRow[]> {
    const rows = await this.sql(
      `SELECT ${ROW_COLUMNS} FROM session_ends WHERE tenant_id = ? AND chain_seq IS NOT NULL
       ORDER BY chain_seq`,
      tenantId,
    );
    return rows.map((r) => chainRowOf(r as never));
  }

  /** The row id at a tenant's position. */
  async idAt(tenantId: string, seq: number): Promise<number> {
    const [row] = await this.sql(
      "SELECT id FROM session_ends WHERE tenant_id = ? AND chain_seq = ?",
      tenantId,
      seq,
    );
    if (!row) throw new Error(`no row at ${tenantId}:${seq}`);
    return Number(row.id);
  }

  /** Updates columns of the row at a tenant's position. */
  async update(tenantId: string, seq: number, set: Record<string, InValue>): Promise<void> {
    const columns = Object.keys(set);
    await this.sql(
      `UPDATE session_ends SET ${columns.map((c) => `${c} = ?`).join(", ")} WHERE id = ?`,
      ...columns.map((c) => set[c]),
      await this.idAt(tenantId, seq),
    );
  }

  /** Deletes the rows of a tenant at these positions. */
  async deleteAt(tenantId: string, where: string, ...args: InValue[]): Promise<void> {
    await this.sql(
      `DELETE FROM session_ends WHERE tenant_id = ? AND (${where})`,
      tenantId,
      ...args,
    );
  }

  /**
   * Moves every row of a tenant at or after `fromSeq` by `delta` positions,
   * and the correction links that name them along.
   */
  async renumber(tenantId: string, fromSeq: number, delta: number): Promise<void> {
    for (const column of ["chain_seq", "corrects", "corrected_by"]) {
      await this.sql(
        `UPDATE session_ends SET ${column} = ${column} + ? WHERE tenant_id = ? AND ${column} >= ?`,
        delta,
        tenantId,
        fromSeq,
      );
    }
  }

  /** Inserts a copy of the row at `sourceSeq` as a new session at `seq`, with `changes`. */
  async insertCopy(
    tenantId: string,
    sourceSeq: number,
    seq: number | null,
    changes: Record<string, InValue> = {},
  ): Promise<void> {
    const columns = (await this.sql("SELECT name FROM pragma_table_info('session_ends')"))
      .map((r) => String(r.name)).filter((name) => name !== "id");
    await this.sql(
      `INSERT INTO session_ends (${columns.join(", ")})
       SELECT ${columns.join(", ")} FROM session_ends WHERE id = ?`,
      await this.idAt(tenantId, sourceSeq),
    );
    const [{ id }] = await this.sql("SELECT max(id) AS id FROM session_ends");
    const set: Record<string, InValue> = {
      session_id: crypto.randomUUID(),
      chain_seq: seq,
      corrects: null,
      corrected_by: null,
      ...changes,
    };
    const names = Object.keys(set);
    await this.sql(
      `UPDATE session_ends SET ${names.map((c) => `${c} = ?`).join(", ")} WHERE id = ?`,
      ...names.map((c) => set[c]),
      Number(id),
    );
  }

  /** A tenant's checkpoints by ordinal. */
  async checkpoints(tenantId: string): Promise<CheckpointRecord[]> {
    const rows = await this.sql(
      `SELECT ${CHECKPOINT_COLUMNS} FROM chain_checkpoints WHERE tenant_id = ? ORDER BY ordinal, id`,
      tenantId,
    );
    return rows.map(checkpointOf);
  }

  /** Inserts a checkpoint row as given. */
  async insertCheckpoint(c: CheckpointRecord): Promise<void> {
    await this.#raw.execute(insertCheckpointSql(c));
  }

  /** Updates columns of a tenant's checkpoint `ordinal`. */
  async updateCheckpoint(
    tenantId: string,
    ordinal: number,
    set: Record<string, InValue>,
  ): Promise<void> {
    const columns = Object.keys(set);
    await this.sql(
      `UPDATE chain_checkpoints SET ${columns.map((c) => `${c} = ?`).join(", ")}
       WHERE tenant_id = ? AND ordinal = ?`,
      ...columns.map((c) => set[c]),
      tenantId,
      ordinal,
    );
  }

  /** An unsigned checkpoint that follows the tenant's last one, as the service would write it. */
  async nextUnsigned(
    tenantId: string,
    kind: string,
    head: { seq: number; hash: string },
  ): Promise<CheckpointRecord> {
    const chain = await this.checkpoints(tenantId);
    let link = NO_PREDECESSOR;
    for (const c of chain) link = linkDigest(link, c);
    return {
      version: 2,
      tenantId,
      ordinal: (chain.at(-1)?.ordinal ?? 0) + 1,
      kind,
      seq: head.seq,
      hash: head.hash,
      createdAt: (chain.at(-1)?.createdAt ?? 0) + 1,
      algorithm: "none",
      keyId: null,
      prevDigest: link,
      signature: "",
    };
  }

  /**
   * A checkpoint that follows the tenant's last one, signed with `keyring`'s
   * signer (unsigned without one): what the service's checkpointer would
   * write if it chained over whatever came last. The attacker holds no key:
   * this is the service's signature, made over the attacker's checkpoint.
   */
  async nextSigned(
    tenantId: string,
    kind: string,
    head: { seq: number; hash: string },
    keyring: Keyring,
  ): Promise<CheckpointRecord> {
    const next = await this.nextUnsigned(tenantId, kind, head);
    const signer = keyring.signer;
    if (!signer) return next;
    const signed = { ...next, algorithm: signer.algorithm, keyId: signer.keyId };
    return { ...signed, signature: await signer.sign(checkpointText(signed)) };
  }

  /** The position and hash of the row at a tenant's position. */
  async rowAt(tenantId: string, seq: number): Promise<{ seq: number; hash: string }> {
    const [row] = await this.sql(
      "SELECT chain_hash FROM session_ends WHERE tenant_id = ? AND chain_seq = ?",
      tenantId,
      seq,
    );
    if (!row) throw new Error(`no row at ${tenantId}:${seq}`);
    return { seq, hash: String(row.chain_hash) };
  }

  /**
   * Cuts a tenant's chain after `seq`: its rows deleted, the recorded head
   * rewound to `seq` and, with `checkpoints`, the checkpoints above deleted.
   */
  async truncate(tenantId: string, seq: number, checkpoints = true): Promise<void> {
    await this.deleteAt(tenantId, "chain_seq > ?", seq);
    const [row] = await this.sql(
      "SELECT chain_hash FROM session_ends WHERE tenant_id = ? AND chain_seq = ?",
      tenantId,
      seq,
    );
    await this.sql(
      "UPDATE chain_heads SET seq = ?, hash = ? WHERE tenant_id = ?",
      seq,
      String(row.chain_hash),
      tenantId,
    );
    if (checkpoints) {
      await this.sql(
        "DELETE FROM chain_checkpoints WHERE tenant_id = ? AND seq > ?",
        tenantId,
        seq,
      );
    }
  }

  /** The recorded head of a tenant. */
  async head(tenantId: string): Promise<{ seq: number; hash: string }> {
    const [row] = await this.sql("SELECT seq, hash FROM chain_heads WHERE tenant_id = ?", tenantId);
    return { seq: Number(row.seq), hash: String(row.hash) };
  }

  /**
   * Covers the tracks of a change at `fromSeq`: re-hashes every row from
   * there on, rewrites the recorded head, and brings every unsigned
   * checkpoint at or after it to the new hashes, re-linking the unsigned
   * ones. Signed checkpoints stay as they are: that needs the key.
   */
  async cover(tenantId: string, fromSeq: number): Promise<void> {
    const rows = await this.rows(tenantId);
    const before = rows.find((r) => r.chainSeq === fromSeq - 1);
    let previous = before?.chainHash ?? (await this.anchorHash(tenantId, fromSeq - 1));
    const hashAt = new Map<number, string>();
    for (const row of rows.filter((r) => (r.chainSeq as number) >= fromSeq)) {
      const canonical = canonicalRow(
        { ...row, chainSeq: row.chainSeq as number },
        row.chainVersion,
      );
      if (!canonical.ok) throw new Error(canonical.problem);
      previous = chainHash(previous, canonical.text);
      hashAt.set(row.chainSeq as number, previous);
      await this.sql(
        "UPDATE session_ends SET chain_hash = ? WHERE tenant_id = ? AND chain_seq = ?",
        previous,
        tenantId,
        row.chainSeq,
      );
    }
    const last = rows.at(-1)?.chainSeq ?? 0;
    await this.sql(
      "UPDATE chain_heads SET seq = ?, hash = ? WHERE tenant_id = ?",
      last,
      hashAt.get(last) ?? previous,
      tenantId,
    );
    for (const c of await this.checkpoints(tenantId)) {
      if (c.algorithm === "none" && hashAt.has(c.seq) && c.seq >= fromSeq) {
        await this.updateCheckpoint(tenantId, c.ordinal, { hash: hashAt.get(c.seq) as string });
      }
    }
    await this.relink(tenantId);
  }

  /** Renumbers the unsigned checkpoints without gaps and recomputes their links (signed ones cannot be). */
  async relink(tenantId: string): Promise<void> {
    let link = NO_PREDECESSOR;
    let ordinal = 0;
    for (const c of await this.checkpoints(tenantId)) {
      ordinal++;
      if (c.algorithm === "none" && c.version === 2) {
        const fixed = { ...c, ordinal, prevDigest: link };
        await this.sql(
          `UPDATE chain_checkpoints SET ordinal = ?, prev_digest = ?
           WHERE tenant_id = ? AND ordinal = ? AND seq = ? AND kind = ?`,
          ordinal,
          link,
          tenantId,
          c.ordinal,
          c.seq,
          c.kind,
        );
        link = linkDigest(link, fixed);
      } else {
        ordinal = c.ordinal;
        link = linkDigest(link, c);
      }
    }
  }

  /** The hash a chain resumes from at `seq`: a purge checkpoint's, or the genesis. */
  async anchorHash(tenantId: string, seq: number): Promise<string> {
    if (seq === 0) return GENESIS_HASH;
    const purge = (await this.checkpoints(tenantId)).find((c) =>
      c.kind === "purge" && c.seq === seq
    );
    if (!purge) throw new Error(`no hash known before ${tenantId}:${seq + 1}`);
    return purge.hash;
  }
}

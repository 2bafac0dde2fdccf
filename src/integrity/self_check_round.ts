/**
 * One tenant's round of the integrity self-check (`self_check.ts`), on one
 * snapshot: starting a walk from the anchor, the cheap checks of what
 * changed since the last round, and hashing the rows that follow the
 * verified head, up to a budget.
 *
 * @module
 */
import type { ReadTx } from "../store/client.ts";
import { TENANT_IS, tenantArgs } from "../store/id_keys.ts";
import { type ChainBreak, type ChainHead, ChainVerifier, firstBreak } from "./chain.ts";
import { verifyCheckpoints, type VouchedHead, walkCheckpoints } from "./checkpoint_chain.ts";
import {
  checkCopyEntry,
  sameCheckpoint,
  signatureStatus,
  untrustedBreak,
} from "./checkpoint_trust.ts";
import type { CheckpointRecord } from "./checkpoint_record.ts";
import { CHECKPOINT_COLUMNS, checkpointOf, readCheckpoints } from "./checkpoints.ts";
import type { Keyring } from "./keyring.ts";
import { chainRowOf, ROW_COLUMNS } from "./verify.ts";

/** Rows read per query. */
const CHUNK = 500;

/** Where a tenant's walk stands. */
export interface TenantState {
  /** The last position verified, and its hash. */
  head: ChainHead;
  anchorSeq: number;
  /** The highest position verified that a trusted checkpoint vouched for. */
  vouchedSeq: number;
  /** The last checkpoint verified, and its link digest. */
  checkpoint?: { record: CheckpointRecord; link: string };
  /** Positions vouched for above `head`, that the walk has not reached yet. */
  pending: VouchedHead[];
  /** When the walk from the anchor started (wall clock, ms). */
  startedAt: number;
  broken: ChainBreak | null;
}

const fail = (problem: ChainBreak["problem"], seq: number, detail: string): ChainBreak => ({
  session_id: null,
  problem,
  chain_seq: seq,
  detail,
});

/** Adds a head for the walk to reach (once). */
function wait(state: TenantState, head: VouchedHead): void {
  const same = (h: VouchedHead) =>
    h.seq === head.seq && h.hash === head.hash && h.label === head.label;
  if (!state.pending.some(same)) state.pending.push(head);
}

/** Starts a tenant's walk from its anchor: the checkpoint chain verified in full. */
export async function beginWalk(
  keyring: Keyring,
  tx: ReadTx,
  tenantId: string,
  copied: CheckpointRecord | undefined,
  now: number,
): Promise<TenantState> {
  const verdict = await verifyCheckpoints(
    await readCheckpoints(tx, tenantId),
    keyring,
    copied ? [copied] : undefined,
  );
  const { anchor } = verdict;
  // Each on the chain index: a row with no position, a row at or below the anchor.
  const stray = [];
  for (const where of ["chain_seq IS NULL", "chain_seq <= ?"]) {
    const rs = await tx.execute({
      sql: `SELECT session_id, chain_seq FROM session_ends WHERE ${TENANT_IS} AND ${where} LIMIT 1`,
      args: where.includes("?") ? [...tenantArgs(tenantId), anchor.seq] : tenantArgs(tenantId),
    });
    stray.push(...rs.rows);
  }
  const rows = stray.map((r): ChainBreak => ({
    session_id: String(r.session_id),
    problem: "inserted",
    chain_seq: r.chain_seq === null ? anchor.seq + 1 : Number(r.chain_seq),
    detail: r.chain_seq === null
      ? "row carries no chain position or hash"
      : `position ${r.chain_seq} is present, at or below the purge checkpoint at ${anchor.seq}`,
  }));
  return {
    head: anchor,
    anchorSeq: anchor.seq,
    vouchedSeq: anchor.seq,
    checkpoint: verdict.last && { record: verdict.last.checkpoint, link: verdict.last.link },
    pending: verdict.heads,
    startedAt: now,
    broken: firstBreak(rows, verdict.breaks),
  };
}

/**
 * The cheap checks of a round: the verified head unchanged, the new
 * checkpoints, the copy's last one. True when a purge moved the anchor.
 */
export async function checkSince(
  keyring: Keyring,
  tx: ReadTx,
  tenantId: string,
  state: TenantState,
  copied: CheckpointRecord | undefined,
  breaks: ChainBreak[],
): Promise<boolean> {
  const rowHash = async (seq: number) => {
    const rs = await tx.execute({
      sql: `SELECT chain_hash FROM session_ends WHERE ${TENANT_IS} AND chain_seq = ?`,
      args: [...tenantArgs(tenantId), seq],
    });
    return rs.rows.length ? String(rs.rows[0].chain_hash) : undefined;
  };
  const known = state.checkpoint;
  const rs = await tx.execute({
    sql: `SELECT ${CHECKPOINT_COLUMNS} FROM chain_checkpoints
          WHERE tenant_id = ? AND ordinal >= ? ORDER BY ordinal, id`,
    args: [tenantId, known?.record.ordinal ?? 0],
  });
  const added = rs.rows.map(checkpointOf);
  if (added.some((c) => c.kind === "purge" && c.ordinal !== known?.record.ordinal)) return true;
  await newCheckpoints(keyring, state, added, breaks);

  const { head } = state;
  if (head.seq > state.anchorSeq) {
    const hash = await rowHash(head.seq);
    if (hash === undefined) {
      breaks.push(
        fail(
          "missing",
          head.seq,
          `position ${head.seq}, verified before, is gone: the chain was cut short`,
        ),
      );
    } else if (hash !== head.hash) {
      breaks.push(
        fail(
          "altered",
          head.seq,
          `position ${head.seq} no longer has the hash it had when verified: the chain was rewritten`,
        ),
      );
    }
  }
  if (copied) {
    const stored = await tx.execute({
      sql: `SELECT ${CHECKPOINT_COLUMNS} FROM chain_checkpoints
            WHERE tenant_id = ? AND ordinal = ? ORDER BY id LIMIT 1`,
      args: [tenantId, copied.ordinal],
    });
    const inDatabase = stored.rows.length ? checkpointOf(stored.rows[0]) : undefined;
    const { broken, vouches } = await checkCopyEntry(copied, inDatabase, keyring);
    if (broken) breaks.push(broken);
    if (vouches && copied.seq > state.anchorSeq) {
      wait(state, {
        seq: copied.seq,
        hash: copied.hash,
        label: `checkpoint ${copied.ordinal} of the independent copy`,
      });
    }
  }
  // Heads the walk has passed already are compared here; the others wait for it.
  const passed = state.pending.filter((h) => h.seq <= head.seq);
  state.pending = state.pending.filter((h) => h.seq > head.seq);
  for (const h of passed) {
    if ((await rowHash(h.seq)) !== h.hash) {
      breaks.push(fail("altered", h.seq, `position ${h.seq} differs from ${h.label}`));
    }
  }
  return false;
}

/**
 * Checks the checkpoints added since the last verified one, by the
 * verifier's rules (`checkpoint_chain.ts`, `checkpoint_trust.ts`); their heads join `pending`.
 */
async function newCheckpoints(
  keyring: Keyring,
  state: TenantState,
  added: CheckpointRecord[],
  breaks: ChainBreak[],
): Promise<void> {
  const known = state.checkpoint;
  // `added` starts at the last verified checkpoint's number: it must be there, unchanged.
  const again = known && added[0]?.ordinal === known.record.ordinal ? added[0] : undefined;
  if (known && !again) {
    breaks.push(
      fail(
        "missing",
        known.record.seq,
        `checkpoint ${known.record.ordinal}, verified before, is gone`,
      ),
    );
  } else if (known && again && !sameCheckpoint(again, known.record)) {
    breaks.push(
      fail("altered", again.seq, `checkpoint ${again.ordinal} changed after it was verified`),
    );
  }
  const keyed = keyring.keys.length > 0;
  for (const { c, link } of walkCheckpoints(again ? added.slice(1) : added, breaks, known)) {
    const broken = untrustedBreak(c, await signatureStatus(c, keyring), !keyed);
    if (broken) breaks.push(broken);
    else wait(state, { seq: c.seq, hash: c.hash, label: `checkpoint ${c.ordinal}` });
    state.checkpoint = { record: c, link };
  }
}

/** Hashes at most `budget` rows after the verified head. */
export async function walkRows(
  tx: ReadTx,
  tenantId: string,
  state: TenantState,
  budget: number,
): Promise<{ state: TenantState; rows: number; done: boolean }> {
  const recorded = await tx.execute({
    sql: "SELECT seq FROM chain_heads WHERE tenant_id = ?",
    args: [tenantId],
  });
  const { head } = state;
  const verifier = new ChainVerifier(head, state.pending, {
    linksFrom: state.anchorSeq,
    vouchedFrom: state.vouchedSeq,
  });
  const targets = new Set<number>();
  let rows = 0;
  let more = true;
  // Keyset on (chain_seq, id): a second row at the last position of one read is in the next.
  let after = { seq: verifier.head.seq, id: Number.MAX_SAFE_INTEGER };
  while (more && rows < budget) {
    const limit = Math.min(CHUNK, budget - rows);
    const rs = await tx.execute({
      sql: `SELECT ${ROW_COLUMNS}, id FROM session_ends
            WHERE ${TENANT_IS} AND (chain_seq, id) > (?, ?) ORDER BY chain_seq, id LIMIT ?`,
      args: [...tenantArgs(tenantId), after.seq, after.id, limit],
    });
    const last = rs.rows.at(-1);
    if (last) after = { seq: Number(last.chain_seq), id: Number(last.id) };
    for (const r of rs.rows) {
      const row = chainRowOf(r);
      verifier.push(row);
      if (row.corrects !== null && row.corrects <= head.seq) targets.add(row.corrects);
    }
    rows += rs.rows.length;
    more = rs.rows.length === limit;
  }
  // Corrections of rows verified before: their targets must name them back.
  for (const seq of targets) {
    const rs = await tx.execute({
      sql: `SELECT ${ROW_COLUMNS} FROM session_ends WHERE ${TENANT_IS} AND chain_seq = ?`,
      args: [...tenantArgs(tenantId), seq],
    });
    if (rs.rows.length) verifier.noteOutside(chainRowOf(rs.rows[0]));
  }
  const recordedSeq = recorded.rows.length ? Number(recorded.rows[0].seq) : undefined;
  const broken = verifier.finish(more ? undefined : recordedSeq, more);
  const reached = verifier.head;
  return {
    state: {
      ...state,
      head: broken ? head : reached,
      vouchedSeq: broken ? state.vouchedSeq : verifier.vouchedSeq,
      pending: broken ? state.pending : state.pending.filter((h) => h.seq > reached.seq),
      broken,
    },
    rows,
    done: !more,
  };
}

/**
 * The integrity self-check: every `INTEGRITY_CHECK_INTERVAL_SECONDS` each
 * tenant's chain is verified incrementally, from where the last check left
 * it, and `session_audit_integrity_broken_tenants` counts the tenants whose
 * last check failed.
 *
 * A tenant is walked in full at its first check, after a purge moved its
 * anchor, while it is broken, and once a day; in between, a check confirms
 * that the head it verified last is still there with the same hash (a
 * chain rewritten, cut short or rewound shows there), verifies the rows and
 * checkpoints added since, and compares the independent copy's last
 * checkpoint with the database. Everything a check reads comes from one
 * snapshot, on a read connection: ingest never waits for it.
 *
 * @module
 */
import { sleep } from "../backoff.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Database, ReadTx } from "../store/client.ts";
import { TENANT_IS, tenantArgs } from "../store/id_keys.ts";
import { type ChainBreak, type ChainHead, ChainVerifier, firstBreak } from "./chain.ts";
import { signatureStatus, type VouchedHead } from "./checkpoint_chain.ts";
import {
  type CheckpointRecord,
  checkpointText,
  linkDigest,
  NO_PREDECESSOR,
} from "./checkpoint_record.ts";
import { CHECKPOINT_COLUMNS, checkpointOf } from "./checkpoints.ts";
import type { Keyring } from "./keyring.ts";
import { chainRowOf, listTenants, ROW_COLUMNS, verifyTenantInDepth } from "./verify.ts";

/** Rows read per query. */
const CHUNK = 2_000;
/** A tenant is walked in full at least this often, ms. */
export const FULL_CHECK_EVERY_MS = 24 * 60 * 60 * 1000;

/** Where a tenant's last check left it. */
interface TenantState {
  /** The last position verified, and its hash. */
  head: ChainHead;
  /** The purge anchor's position at the last full walk. */
  anchorSeq: number;
  /** The last checkpoint verified, and its link digest. */
  checkpoint?: { record: CheckpointRecord; link: string };
  /** Wall-clock time of the last full walk, ms. */
  fullAt: number;
  broken: ChainBreak | null;
}

/** What one round of the self-check found and did. */
export interface SelfCheckReport {
  /** The tenants whose chain is broken, with the first break of each. */
  broken: Map<string, ChainBreak>;
  /** Rows verified in this round. */
  rowsChecked: number;
  /** Tenants walked in full in this round (the others from where the last round left them). */
  fullWalks: number;
}

/** What {@linkcode IntegritySelfCheck} needs. */
export interface SelfCheckDeps {
  db: Database;
  keyring: Keyring;
  metrics: Metrics;
  logger: Logger;
  /** The independent copy's last checkpoint of a tenant; absent without a copy. */
  latestInCopy?: (tenantId: string) => Promise<CheckpointRecord | undefined>;
  /** Wall clock, ms. @default Date.now */
  now?: () => number;
}

/** The incremental self-check; {@linkcode IntegritySelfCheck.run} repeats it. */
export class IntegritySelfCheck {
  readonly #deps: SelfCheckDeps;
  readonly #state = new Map<string, TenantState>();

  constructor(deps: SelfCheckDeps) {
    this.#deps = deps;
  }

  /** Checks every tenant once. */
  async checkOnce(): Promise<SelfCheckReport> {
    const now = this.#deps.now ?? Date.now;
    const broken = new Map<string, ChainBreak>();
    const report: SelfCheckReport = { broken, rowsChecked: 0, fullWalks: 0 };
    for (const tenantId of await listTenants(this.#deps.db)) {
      const before = this.#state.get(tenantId);
      const { state, rows, full } = await this.#check(tenantId, before, now());
      report.rowsChecked += rows;
      if (full) report.fullWalks++;
      this.#state.set(tenantId, state);
      if (state.broken) {
        broken.set(tenantId, state.broken);
        if (!before?.broken) {
          this.#deps.logger.error("integrity self-check: chain broken", {
            tenant_id: tenantId,
            first_broken: state.broken,
          });
        }
      }
    }
    const { metrics } = this.#deps;
    metrics.set("session_audit_integrity_broken_tenants", broken.size);
    metrics.add("session_audit_integrity_checks_total", 1);
    metrics.set("session_audit_integrity_last_check_timestamp_seconds", Math.floor(now() / 1000));
    this.#deps.logger.debug("integrity self-check", {
      tenants: this.#state.size,
      broken: broken.size,
      rows_checked: report.rowsChecked,
      full_walks: report.fullWalks,
    });
    return report;
  }

  /**
   * Checks every `intervalMs` (the first time after one interval, when the
   * checkpointer has had its first round) until `signal` aborts; a check
   * that could not run is logged and tried at the next.
   */
  async run(intervalMs: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      await sleep(intervalMs, signal);
      if (signal.aborted) return;
      try {
        await this.checkOnce();
      } catch (err) {
        this.#deps.logger.warn("integrity self-check could not run; will retry", { error: err });
      }
    }
  }

  async #check(
    tenantId: string,
    state: TenantState | undefined,
    now: number,
  ): Promise<{ state: TenantState; rows: number; full: boolean }> {
    if (state && !state.broken && now - state.fullAt < FULL_CHECK_EVERY_MS) {
      const copied = await this.#latestInCopy(tenantId);
      const resumed = await this.#deps.db.readTransaction((tx) =>
        this.#resume(tx, tenantId, state, copied)
      );
      if (resumed) return { ...resumed, full: false };
    }
    return { ...await this.#full(tenantId, now), full: true };
  }

  async #latestInCopy(tenantId: string): Promise<CheckpointRecord | undefined> {
    try {
      return await this.#deps.latestInCopy?.(tenantId);
    } catch (err) {
      this.#deps.logger.debug("integrity self-check: copy not read", { error: err });
      return undefined;
    }
  }

  async #full(tenantId: string, now: number): Promise<{ state: TenantState; rows: number }> {
    const latest = this.#deps.latestInCopy ? await this.#latestInCopy(tenantId) : undefined;
    const copy = latest
      ? { read: () => Promise.resolve([latest]), tenants: () => Promise.resolve([]) }
      : undefined;
    const { integrity, checkpoints } = await verifyTenantInDepth(
      this.#deps.db,
      tenantId,
      this.#deps.keyring,
      copy,
    );
    const state = {
      head: { seq: integrity.head_seq, hash: integrity.head },
      anchorSeq: checkpoints.anchor.seq,
      checkpoint: checkpoints.last &&
        { record: checkpoints.last.checkpoint, link: checkpoints.last.link },
      fullAt: now,
      broken: integrity.first_broken,
    };
    return { state, rows: integrity.rows_checked };
  }

  /**
   * Continues from `state` on one snapshot; undefined when only a full walk
   * can tell (a purge moved the anchor).
   */
  async #resume(
    tx: ReadTx,
    tenantId: string,
    state: TenantState,
    copied: CheckpointRecord | undefined,
  ): Promise<{ state: TenantState; rows: number } | undefined> {
    const breaks: (ChainBreak | null)[] = [];
    const rowHash = async (seq: number) => {
      const rs = await tx.execute({
        sql: `SELECT chain_hash FROM session_ends WHERE ${TENANT_IS} AND chain_seq = ?`,
        args: [...tenantArgs(tenantId), seq],
      });
      return rs.rows.length ? String(rs.rows[0].chain_hash) : undefined;
    };
    const fresh = await tx.execute({
      sql: `SELECT ${CHECKPOINT_COLUMNS} FROM chain_checkpoints
            WHERE tenant_id = ? AND ordinal >= ? ORDER BY ordinal, id`,
      args: [tenantId, state.checkpoint?.record.ordinal ?? 0],
    });
    const added = fresh.rows.map(checkpointOf);
    if (added.some((c) => c.kind === "purge")) return undefined;
    const { heads, link } = await this.#newCheckpoints(state, added, breaks);

    // The head verified last must still be there as it was.
    const { head } = state;
    if (head.seq > state.anchorSeq) {
      const hash = await rowHash(head.seq);
      if (hash !== head.hash) {
        breaks.push({
          session_id: null,
          problem: hash === undefined ? "missing" : "altered",
          chain_seq: head.seq,
          detail: hash === undefined
            ? `position ${head.seq}, verified before, is gone: the chain was cut short`
            : `position ${head.seq} no longer has the hash it had when verified: the chain was rewritten`,
        });
      }
    }
    if (copied) this.#compareCopy(copied, state, added, heads, breaks);
    for (const h of heads.filter((h) => h.seq <= head.seq)) {
      if ((await rowHash(h.seq)) !== h.hash) {
        breaks.push({
          session_id: null,
          problem: "altered",
          chain_seq: h.seq,
          detail: `position ${h.seq} differs from ${h.label}`,
        });
      }
    }

    const recorded = await tx.execute({
      sql: "SELECT seq FROM chain_heads WHERE tenant_id = ?",
      args: [tenantId],
    });
    const verifier = new ChainVerifier(
      head,
      heads.filter((h) => h.seq > head.seq),
      state.anchorSeq,
    );
    const targets = new Set<number>();
    for (let after = head.seq;;) {
      const rs = await tx.execute({
        sql: `SELECT ${ROW_COLUMNS} FROM session_ends
              WHERE ${TENANT_IS} AND chain_seq > ? ORDER BY chain_seq, id LIMIT ?`,
        args: [...tenantArgs(tenantId), after, CHUNK],
      });
      for (const r of rs.rows) {
        const row = chainRowOf(r);
        verifier.push(row);
        if (row.corrects !== null && row.corrects <= head.seq) targets.add(row.corrects);
      }
      if (rs.rows.length < CHUNK) break;
      after = Number(rs.rows[rs.rows.length - 1].chain_seq);
    }
    // Corrections of rows verified before: their targets must name them back.
    for (const seq of targets) {
      const rs = await tx.execute({
        sql: `SELECT ${ROW_COLUMNS} FROM session_ends WHERE ${TENANT_IS} AND chain_seq = ?`,
        args: [...tenantArgs(tenantId), seq],
      });
      if (rs.rows.length) verifier.noteOutside(chainRowOf(rs.rows[0]));
    }
    breaks.push(verifier.finish(recorded.rows.length ? Number(recorded.rows[0].seq) : undefined));
    const broken = firstBreak(breaks);
    const last = added.at(-1);
    const next = {
      ...state,
      head: broken ? state.head : verifier.head,
      checkpoint: last ? { record: last, link } : state.checkpoint,
      broken,
    };
    return { state: next, rows: verifier.rowsChecked };
  }

  /**
   * Checks the checkpoints since the last verified one; returns the heads
   * they vouch for and the last one's link digest.
   */
  async #newCheckpoints(
    state: TenantState,
    added: CheckpointRecord[],
    breaks: (ChainBreak | null)[],
  ): Promise<{ heads: VouchedHead[]; link: string }> {
    const known = state.checkpoint;
    let expected = (known?.record.ordinal ?? 0) + 1;
    let previous = known?.link ?? NO_PREDECESSOR;
    const heads: VouchedHead[] = [];
    for (const c of added) {
      const fail = (problem: ChainBreak["problem"], detail: string) =>
        breaks.push({ session_id: null, problem, chain_seq: c.seq, detail });
      if (known && c.ordinal === known.record.ordinal) {
        const same = checkpointText(c) === checkpointText(known.record) &&
          c.signature === known.record.signature;
        if (!same) fail("altered", `checkpoint ${c.ordinal} changed after it was verified`);
        continue;
      }
      if (c.ordinal !== expected) {
        fail("missing", `checkpoint ${c.ordinal} follows ${expected - 1}`);
      } else if (c.prevDigest !== previous) {
        fail("altered", `checkpoint ${c.ordinal} does not name checkpoint ${c.ordinal - 1}`);
      }
      previous = linkDigest(previous, c);
      expected = c.ordinal + 1;
      const s = await signatureStatus(c, this.#deps.keyring);
      if (s.kind === "forged" || s.kind === "unverifiable") fail(s.kind, s.detail);
      else if (s.kind === "unsigned" && this.#deps.keyring.keys.length > 0) {
        fail(
          "forged",
          `checkpoint ${c.ordinal} is unsigned: with a key configured only signed ones count`,
        );
      } else heads.push({ seq: c.seq, hash: c.hash, label: `checkpoint ${c.ordinal}` });
    }
    if (known && !added.some((c) => c.ordinal === known.record.ordinal)) {
      breaks.push({
        session_id: null,
        problem: "missing",
        chain_seq: known.record.seq,
        detail: `checkpoint ${known.record.ordinal}, verified before, is gone`,
      });
    }
    return { heads, link: previous };
  }

  /** The copy's last checkpoint must be in the database as it is in the copy. */
  #compareCopy(
    copied: CheckpointRecord,
    state: TenantState,
    added: CheckpointRecord[],
    heads: VouchedHead[],
    breaks: (ChainBreak | null)[],
  ): void {
    const label = `checkpoint ${copied.ordinal} of the independent copy`;
    const stored = added.find((c) => c.ordinal === copied.ordinal);
    const newest = added.at(-1)?.ordinal ?? state.checkpoint?.record.ordinal ?? 0;
    if (copied.ordinal > newest) {
      breaks.push({
        session_id: null,
        problem: "missing",
        chain_seq: copied.seq,
        detail: `${label} (position ${copied.seq}) is not in the database`,
      });
    } else if (stored && checkpointText(stored) !== checkpointText(copied)) {
      breaks.push({
        session_id: null,
        problem: "altered",
        chain_seq: copied.seq,
        detail: `checkpoint ${copied.ordinal} differs from the ${label}`,
      });
    }
    if (copied.seq > state.anchorSeq) heads.push({ seq: copied.seq, hash: copied.hash, label });
  }
}

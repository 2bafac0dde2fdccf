/**
 * The integrity self-check: every `INTEGRITY_CHECK_INTERVAL_SECONDS` each
 * tenant's chain is verified from where the last round left it, and
 * `session_audit_integrity_broken_tenants` counts the tenants whose chain
 * failed.
 *
 * Every round, for every tenant, the cheap checks: the head verified last is
 * still there with the same hash (a chain rewritten, cut short or rewound
 * shows there, even without a key or a copy), the checkpoints added since
 * are numbered, linked and signed, and the independent copy's last
 * checkpoint is in the database, unchanged (each by the verifier's own
 * rules, `checkpoint_trust.ts`). Then the rows: at most
 * {@linkcode ROWS_PER_SECOND} rows per second of interval are hashed, the
 * rest carried to the next rounds, so that the check never takes more than
 * a small share of the process (behind a backlog it falls behind and
 * catches up). A tenant is walked again from its anchor at its first round,
 * after a purge, while it is broken, and once a day (a plain edit below the
 * verified head waits for that). Each round of a tenant reads one snapshot,
 * on a read connection: ingest never waits for its lock.
 *
 * @module
 */
import { sleep } from "../backoff.ts";
import { type Clock, type Timers, wallClock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Database, ReadTx } from "../store/client.ts";
import { type ChainBreak, firstBreak } from "./chain.ts";
import type { CheckpointRecord } from "./checkpoint_record.ts";
import type { Keyring } from "./keyring.ts";
import { beginWalk, checkSince, type TenantState, walkRows } from "./self_check_round.ts";

/** Rows hashed per second of interval, at most (about 1 % of one core, see bench/self_check.ts). */
export const ROWS_PER_SECOND = 500;
/** A tenant is walked again from its anchor at least this often, ms. */
export const FULL_CHECK_EVERY_MS = 24 * 60 * 60 * 1000;

/** What one round found and did. */
export interface SelfCheckReport {
  /** The tenants whose chain is broken, with the first break of each. */
  broken: Map<string, ChainBreak>;
  /** Rows hashed in this round. */
  rowsChecked: number;
  /** Tenants whose walk started again from their anchor in this round. */
  fullWalks: number;
  /** Tenants whose walk has not reached their head yet. */
  behind: number;
}

/** What {@linkcode IntegritySelfCheck} needs. */
export interface SelfCheckDeps {
  db: Database;
  keyring: Keyring;
  metrics: Metrics;
  logger: Logger;
  /** The independent copy's last checkpoint of a tenant; absent without a copy. */
  latestInCopy?: (tenantId: string) => Promise<CheckpointRecord | undefined>;
  /** The wall clock (when a walk started, the last check's timestamp). @default wallClock */
  clock?: Clock;
  /** The timers it waits on between rounds. @default systemTimers */
  timers?: Timers;
}

/** The self-check; {@linkcode IntegritySelfCheck.run} repeats its rounds. */
export class IntegritySelfCheck {
  readonly #deps: SelfCheckDeps;
  readonly #state = new Map<string, TenantState>();
  /** Rounds so far: the tenant that goes first turns. */
  #round = 0;

  constructor(deps: SelfCheckDeps) {
    this.#deps = deps;
  }

  /** One round over every tenant, hashing at most `budget` rows. */
  async checkOnce(budget = Infinity): Promise<SelfCheckReport> {
    const now = (this.#deps.clock ?? wallClock).now();
    const report: SelfCheckReport = { broken: new Map(), rowsChecked: 0, fullWalks: 0, behind: 0 };
    const tenants = await this.#tenants();
    const first = tenants.length ? this.#round++ % tenants.length : 0;
    for (const tenantId of [...tenants.slice(first), ...tenants.slice(0, first)]) {
      const before = this.#state.get(tenantId);
      const copied = await this.#latestInCopy(tenantId);
      const { state, rows, restarted, done } = await this.#deps.db.readTransaction((tx) =>
        this.#check(tx, tenantId, before, copied, budget - report.rowsChecked, now)
      );
      this.#state.set(tenantId, state);
      report.rowsChecked += rows;
      if (restarted) report.fullWalks++;
      if (!done) report.behind++;
      if (state.broken) {
        report.broken.set(tenantId, state.broken);
        if (!before?.broken) {
          this.#deps.logger.error("integrity self-check: chain broken", {
            tenant_id: tenantId,
            first_broken: state.broken,
          });
        }
      }
    }
    const { metrics } = this.#deps;
    metrics.set("session_audit_integrity_broken_tenants", report.broken.size);
    metrics.add("session_audit_integrity_checks_total", 1);
    metrics.set("session_audit_integrity_last_check_timestamp_seconds", Math.floor(now / 1000));
    this.#deps.logger.debug("integrity self-check", {
      tenants: tenants.length,
      broken: report.broken.size,
      rows_checked: report.rowsChecked,
      walks_started: report.fullWalks,
      behind: report.behind,
    });
    return report;
  }

  /**
   * A round every `intervalMs` (the first after one interval, when the
   * checkpointer has had its first round) until `signal` aborts, each
   * hashing at most {@linkcode ROWS_PER_SECOND} rows per second of interval.
   */
  async run(intervalMs: number, signal: AbortSignal): Promise<void> {
    const budget = Math.max(1, Math.round(intervalMs / 1000 * ROWS_PER_SECOND));
    for (;;) {
      await sleep(intervalMs, signal, this.#deps.timers);
      if (signal.aborted) return;
      try {
        await this.checkOnce(budget);
      } catch (err) {
        this.#deps.logger.warn("integrity self-check could not run; will retry", { error: err });
      }
    }
  }

  /** Tenants with a chain head (a small table, not the rows), and every one checked before. */
  async #tenants(): Promise<string[]> {
    const rs = await this.#deps.db.execute("SELECT tenant_id FROM chain_heads");
    const tenants = new Set(this.#state.keys());
    for (const row of rs.rows) tenants.add(String(row.tenant_id));
    return [...tenants].sort();
  }

  async #latestInCopy(tenantId: string): Promise<CheckpointRecord | undefined> {
    try {
      return await this.#deps.latestInCopy?.(tenantId);
    } catch (err) {
      this.#deps.logger.debug("integrity self-check: copy not read", { error: err });
      return undefined;
    }
  }

  async #check(
    tx: ReadTx,
    tenantId: string,
    before: TenantState | undefined,
    copied: CheckpointRecord | undefined,
    budget: number,
    now: number,
  ) {
    const breaks: ChainBreak[] = [];
    // A copy: a round that fails leaves the state as it was.
    let state = before && { ...before, pending: [...before.pending] };
    let restarted = false;
    if (state && !state.broken && now - state.startedAt < FULL_CHECK_EVERY_MS) {
      const purged = await checkSince(this.#deps.keyring, tx, tenantId, state, copied, breaks);
      if (purged) state = undefined;
    } else state = undefined;
    if (!state) {
      state = await beginWalk(this.#deps.keyring, tx, tenantId, copied, now);
      restarted = true;
    }
    if (state.broken || breaks.length) {
      return {
        state: { ...state, broken: state.broken ?? firstBreak(breaks) },
        rows: 0,
        restarted,
        done: true,
      };
    }
    const walked = await walkRows(tx, tenantId, state, budget);
    return { ...walked, restarted };
  }
}

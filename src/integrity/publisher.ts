/**
 * Publishing the checkpoints to their independent copy, in the background:
 * every checkpoint is stored in the database first, then published in
 * order; one that could not be published is counted and tried again from
 * the database, without ever holding up ingest.
 *
 * At start, and after a failure, it asks the copy for each tenant's last
 * checkpoint and publishes what follows; then it follows new checkpoints by
 * their row id.
 *
 * @module
 */
import { backoffDelay } from "../backoff.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Database } from "../store/client.ts";
import type { CheckpointRecord } from "./checkpoint_record.ts";
import { CHECKPOINT_COLUMNS, checkpointOf } from "./checkpoints.ts";

/** Rows read per query. */
const CHUNK = 500;

/** What {@linkcode CheckpointPublisher} needs. */
export interface PublisherDeps {
  db: Database;
  /** Creates the copy's stream when missing. */
  ensure(): Promise<unknown>;
  /** Publishes one checkpoint; resolves once the copy holds it. */
  publish(checkpoint: CheckpointRecord): Promise<void>;
  /** The copy's last checkpoint of a tenant. */
  latest(tenantId: string): Promise<CheckpointRecord | undefined>;
  metrics: Metrics;
  logger: Logger;
  /** Time between looks for new checkpoints, ms. @default 5000 */
  intervalMs?: number;
}

/** Publishes checkpoints to the copy until stopped. */
export class CheckpointPublisher {
  readonly #deps: PublisherDeps;
  /** The last ordinal the copy holds, by tenant; undefined until caught up. */
  #published: Map<string, number> | undefined;
  /** The largest checkpoint row id handled. */
  #cursor = 0;
  #failures = 0;
  #wake: (() => void) | undefined;

  constructor(deps: PublisherDeps) {
    this.#deps = deps;
  }

  /** Publishes without waiting for the next look (after a checkpoint was written). */
  nudge(): void {
    this.#wake?.();
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let delay = this.#deps.intervalMs ?? 5_000;
      try {
        await this.publishPending();
        this.#failures = 0;
      } catch (err) {
        this.#deps.metrics.add("session_audit_checkpoint_publish_failures_total", 1);
        if (this.#failures++ === 0) {
          this.#deps.logger.warn("checkpoint not published to the copy; will retry", {
            error: err,
          });
        }
        this.#published = undefined; // catch up again: what did the copy get?
        delay = Math.min(delay, backoffDelay(this.#failures - 1, { maxMs: 60_000 }));
      }
      await this.#pause(delay, signal);
    }
  }

  /** Waits `ms`, or until nudged or aborted. */
  #pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#wake = done;
      if (signal.aborted) done();
    });
  }

  /** One round: catch up when needed, then publish every checkpoint not published yet. */
  async publishPending(): Promise<number> {
    let count = 0;
    if (!this.#published) count += await this.#catchUp();
    const published = this.#published as Map<string, number>;
    for (;;) {
      const rs = await this.#deps.db.execute({
        sql: `SELECT ${CHECKPOINT_COLUMNS} FROM chain_checkpoints WHERE id > ? ORDER BY id LIMIT ?`,
        args: [this.#cursor, CHUNK],
      });
      for (const row of rs.rows) {
        const c = checkpointOf(row);
        if (c.ordinal > (published.get(c.tenantId) ?? 0)) {
          await this.#publish(c);
          published.set(c.tenantId, c.ordinal);
          count++;
        }
        this.#cursor = Number(row.id);
      }
      if (rs.rows.length < CHUNK) return count;
    }
  }

  async #publish(c: CheckpointRecord): Promise<void> {
    await this.#deps.publish(c);
    this.#deps.metrics.add("session_audit_checkpoints_published_total", 1);
  }

  /** Asks the copy where each tenant stands and publishes what follows. */
  async #catchUp(): Promise<number> {
    await this.#deps.ensure();
    const { db } = this.#deps;
    const top = await db.execute("SELECT coalesce(max(id), 0) AS id FROM chain_checkpoints");
    const cursor = Number(top.rows[0].id);
    const tenants = await db.execute("SELECT DISTINCT tenant_id FROM chain_checkpoints");
    const published = new Map<string, number>();
    let count = 0;
    for (const { tenant_id } of tenants.rows) {
      const tenantId = String(tenant_id);
      let last = (await this.#deps.latest(tenantId))?.ordinal ?? 0;
      for (;;) {
        const rs = await db.execute({
          sql: `SELECT ${CHECKPOINT_COLUMNS} FROM chain_checkpoints
                WHERE tenant_id = ? AND ordinal > ? AND id <= ? ORDER BY ordinal LIMIT ?`,
          args: [tenantId, last, cursor, CHUNK],
        });
        for (const row of rs.rows) {
          const c = checkpointOf(row);
          await this.#publish(c);
          last = c.ordinal;
          count++;
        }
        if (rs.rows.length < CHUNK) break;
      }
      published.set(tenantId, last);
    }
    this.#published = published;
    this.#cursor = cursor;
    return count;
  }
}

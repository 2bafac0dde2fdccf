/**
 * Versioned schema migrations, applied in order at start-up. Safe when
 * several workers start at once against one database: each version is
 * applied in one write transaction together with its bookkeeping row, and a
 * worker that loses the race re-reads and moves on.
 *
 * @module
 */
import type { Client } from "@libsql/client";

/** One schema version: statements applied atomically. */
export interface Migration {
  version: number;
  description: string;
  statements: string[];
}

/**
 * The service always writes the keys; a row written without them (by an older worker still
 * running during an upgrade, or by hand) gets them here.
 */
const KEYS_TRIGGER = `CREATE TRIGGER session_ends_keys AFTER INSERT ON session_ends
    WHEN NEW.tenant_key IS NULL OR NEW.device_key IS NULL
      OR (NEW.user_key IS NULL AND NEW.user_id IS NOT NULL)
    BEGIN
      INSERT OR IGNORE INTO id_keys (value) VALUES (NEW.tenant_id);
      INSERT OR IGNORE INTO id_keys (value) VALUES (NEW.device_id);
      INSERT OR IGNORE INTO id_keys (value) SELECT NEW.user_id WHERE NEW.user_id IS NOT NULL;
      UPDATE session_ends SET
        tenant_key = (SELECT key FROM id_keys WHERE value = NEW.tenant_id),
        device_key = (SELECT key FROM id_keys WHERE value = NEW.device_id),
        user_key = (SELECT key FROM id_keys WHERE value = NEW.user_id)
      WHERE id = NEW.id;
    END`;

/** The indexes of the list, the chain and the feed, on integer keys (since version 4). */
const KEYED_INDEXES = [
  `CREATE INDEX session_ends_by_tenant ON session_ends (tenant_key, sort_time)`,
  `CREATE INDEX session_ends_by_tenant_device
    ON session_ends (tenant_key, device_key, sort_time)`,
  `CREATE INDEX session_ends_by_tenant_user ON session_ends (tenant_key, user_key, sort_time)`,
  `CREATE INDEX session_ends_by_tenant_reason ON session_ends (tenant_key, reason, sort_time)`,
  `CREATE UNIQUE INDEX session_ends_by_chain ON session_ends (tenant_key, chain_seq)`,
  `CREATE INDEX session_ends_by_tenant_id ON session_ends (tenant_key, id)`,
];

/** Every migration, oldest first. Append only: never edit a released one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "session ends and dead letters",
    statements: [
      // One row per session end. `id` is the storage order (the feed);
      // `sort_time` is end_time, or the time the stream received the event when
      // end_time is unknown, so that every row has a place in the list order.
      `CREATE TABLE IF NOT EXISTS session_ends (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL UNIQUE,
        tenant_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        user_id TEXT,
        start_time INTEGER,
        end_time INTEGER,
        duration_seconds INTEGER,
        source_ip TEXT,
        reason TEXT,
        sort_time INTEGER NOT NULL,
        stream_seq INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,
        chain_seq INTEGER,
        chain_hash TEXT
      )`,
      `CREATE INDEX IF NOT EXISTS session_ends_by_tenant
        ON session_ends (tenant_id, sort_time, session_id)`,
      `CREATE INDEX IF NOT EXISTS session_ends_by_tenant_device
        ON session_ends (tenant_id, device_id, sort_time, session_id)`,
      `CREATE INDEX IF NOT EXISTS session_ends_by_tenant_user
        ON session_ends (tenant_id, user_id, sort_time, session_id)`,
      `CREATE INDEX IF NOT EXISTS session_ends_by_tenant_reason
        ON session_ends (tenant_id, reason, sort_time, session_id)`,
      `CREATE INDEX IF NOT EXISTS session_ends_by_time
        ON session_ends (sort_time, session_id)`,
      // The tenant's hash chain (src/integrity/chain.ts): position `chain_seq`
      // holds `chain_hash`; `chain_heads` keeps each tenant's last position so
      // the write transaction extends the chain without scanning it.
      `CREATE UNIQUE INDEX IF NOT EXISTS session_ends_by_chain
        ON session_ends (tenant_id, chain_seq)`,
      `CREATE TABLE IF NOT EXISTS chain_heads (
        tenant_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
      )`,
      // Signed heads: periodic ones vouch that the chain up to `seq` was intact;
      // purge ones mark where a retention purge cut the chain (verification
      // starts after the latest).
      `CREATE TABLE IF NOT EXISTS chain_checkpoints (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        algorithm TEXT NOT NULL,
        signature TEXT NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS chain_checkpoints_by_tenant
        ON chain_checkpoints (tenant_id, seq)`,
      // Quarantined messages, verbatim. A redelivered bad message is recognised by
      // its stream position and the time the stream received it.
      `CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
        stream_seq INTEGER NOT NULL,
        subject TEXT NOT NULL,
        payload BLOB NOT NULL,
        error TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        quarantined_at INTEGER NOT NULL,
        UNIQUE (stream, stream_seq, received_at)
      )`,
    ],
  },
  {
    version: 2,
    description: "feed by tenant, dead-letter replay marks",
    statements: [
      // The feed of one tenant walks its rows in id (storage) order.
      `CREATE INDEX IF NOT EXISTS session_ends_by_tenant_id ON session_ends (tenant_id, id)`,
      // A replayed dead letter is kept, marked with when and what happened.
      `ALTER TABLE dead_letters ADD COLUMN replayed_at INTEGER`,
      `ALTER TABLE dead_letters ADD COLUMN replay_outcome TEXT`,
    ],
  },
  {
    version: 3,
    description: "list indexes break ties by rowid instead of session_id",
    statements: [
      // Every index entry carries the rowid anyway: ordering ties by `id` instead of a
      // 36-character session_id makes each entry about 40 bytes smaller and each
      // insert much cheaper (the ingest's store ceiling rises by about three quarters).
      // Rebuilding takes a while on a large table; it runs once, at start-up.
      `DROP INDEX IF EXISTS session_ends_by_tenant`,
      `DROP INDEX IF EXISTS session_ends_by_tenant_device`,
      `DROP INDEX IF EXISTS session_ends_by_tenant_user`,
      `DROP INDEX IF EXISTS session_ends_by_tenant_reason`,
      `DROP INDEX IF EXISTS session_ends_by_time`,
      `CREATE INDEX session_ends_by_tenant ON session_ends (tenant_id, sort_time)`,
      `CREATE INDEX session_ends_by_tenant_device ON session_ends (tenant_id, device_id, sort_time)`,
      `CREATE INDEX session_ends_by_tenant_user ON session_ends (tenant_id, user_id, sort_time)`,
      `CREATE INDEX session_ends_by_tenant_reason ON session_ends (tenant_id, reason, sort_time)`,
      `CREATE INDEX session_ends_by_time ON session_ends (sort_time)`,
    ],
  },
  {
    version: 4,
    description: "indexes on integer keys of tenant, device and user ids",
    statements: [
      // Each id once, with a small integer key (src/store/id_keys.ts): the indexes hold the key
      // (1 to 3 bytes) instead of 36 characters, so every insert touches smaller indexes.
      `CREATE TABLE id_keys (
        key INTEGER PRIMARY KEY,
        value TEXT NOT NULL UNIQUE
      )`,
      `ALTER TABLE session_ends ADD COLUMN tenant_key INTEGER`,
      `ALTER TABLE session_ends ADD COLUMN device_key INTEGER`,
      `ALTER TABLE session_ends ADD COLUMN user_key INTEGER`,
      `INSERT INTO id_keys (value)
        SELECT tenant_id FROM session_ends
        UNION SELECT device_id FROM session_ends
        UNION SELECT user_id FROM session_ends WHERE user_id IS NOT NULL`,
      `UPDATE session_ends SET
        tenant_key = (SELECT key FROM id_keys WHERE value = tenant_id),
        device_key = (SELECT key FROM id_keys WHERE value = device_id),
        user_key = (SELECT key FROM id_keys WHERE value = user_id)`,
      KEYS_TRIGGER,
      `DROP INDEX session_ends_by_tenant`,
      `DROP INDEX session_ends_by_tenant_device`,
      `DROP INDEX session_ends_by_tenant_user`,
      `DROP INDEX session_ends_by_tenant_reason`,
      `DROP INDEX session_ends_by_chain`,
      `DROP INDEX session_ends_by_tenant_id`,
      ...KEYED_INDEXES,
    ],
  },
  {
    version: 5,
    description: "source port, anomalies, chain version, appended corrections",
    statements: [
      // SQLite cannot drop the UNIQUE constraint on session_id in place: the table is rebuilt
      // (ids kept, so feed tokens stay valid), with one current version per session instead
      // (a correction is a new row, its predecessor marked corrected_by; src/store/earliest_event.ts).
      // Rebuilding takes a while on a large table; it runs once, at start-up.
      `CREATE TABLE session_ends_v5 (
        id INTEGER PRIMARY KEY, session_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL, device_id TEXT NOT NULL, user_id TEXT,
        start_time INTEGER, end_time INTEGER, duration_seconds INTEGER,
        source_ip TEXT, source_port INTEGER, reason TEXT, anomalies TEXT,
        sort_time INTEGER NOT NULL, stream_seq INTEGER NOT NULL, recorded_at INTEGER NOT NULL,
        chain_version INTEGER NOT NULL DEFAULT 1, chain_seq INTEGER, chain_hash TEXT,
        corrects INTEGER, corrected_by INTEGER,
        tenant_key INTEGER, device_key INTEGER, user_key INTEGER
      )`,
      // Every row so far was chained with version 1 of the canonical encoding.
      `INSERT INTO session_ends_v5 (id, session_id, tenant_id, device_id, user_id, start_time,
          end_time, duration_seconds, source_ip, reason, sort_time, stream_seq, recorded_at,
          chain_version, chain_seq, chain_hash, tenant_key, device_key, user_key)
        SELECT id, session_id, tenant_id, device_id, user_id, start_time, end_time,
          duration_seconds, source_ip, reason, sort_time, stream_seq, recorded_at, 1, chain_seq,
          chain_hash, tenant_key, device_key, user_key
        FROM session_ends`,
      `DROP TABLE session_ends`,
      `ALTER TABLE session_ends_v5 RENAME TO session_ends`,
      `CREATE UNIQUE INDEX session_ends_current ON session_ends (session_id)
        WHERE corrected_by IS NULL`,
      `CREATE INDEX session_ends_by_time ON session_ends (sort_time)`,
      ...KEYED_INDEXES,
      KEYS_TRIGGER,
    ],
  },
  {
    version: 6,
    description: "checkpoints chained to their predecessor, with a key id",
    statements: [
      // Each tenant's checkpoints form a chain (src/integrity/checkpoint_record.ts): `ordinal`
      // numbers them, `prev_digest` names the predecessor, `key_id` the signing key. The
      // checkpoints written so far (version 1) become the start of each chain, numbered in the
      // order they were written; the first version 2 checkpoint seals them.
      `ALTER TABLE chain_checkpoints ADD COLUMN version INTEGER NOT NULL DEFAULT 1`,
      `ALTER TABLE chain_checkpoints ADD COLUMN ordinal INTEGER`,
      `ALTER TABLE chain_checkpoints ADD COLUMN key_id TEXT`,
      `ALTER TABLE chain_checkpoints ADD COLUMN prev_digest TEXT`,
      `UPDATE chain_checkpoints SET ordinal = numbered.n
        FROM (SELECT id, row_number() OVER (PARTITION BY tenant_id ORDER BY id) AS n
              FROM chain_checkpoints) AS numbered
        WHERE numbered.id = chain_checkpoints.id`,
      `CREATE UNIQUE INDEX chain_checkpoints_by_ordinal ON chain_checkpoints (tenant_id, ordinal)`,
    ],
  },
];

const BOOKKEEPING = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  description TEXT NOT NULL,
  applied_at INTEGER NOT NULL
)`;

async function appliedVersions(client: Client): Promise<Set<number>> {
  const rs = await client.execute("SELECT version FROM schema_migrations");
  return new Set(rs.rows.map((row) => Number(row.version)));
}

/**
 * Applies every migration not yet recorded in `schema_migrations`.
 *
 * @returns the versions this call applied (empty when up to date).
 */
export async function migrate(
  client: Client,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  await client.execute(BOOKKEEPING);
  const applied: number[] = [];
  for (const migration of migrations) {
    if ((await appliedVersions(client)).has(migration.version)) continue;
    try {
      await client.batch([
        ...migration.statements,
        {
          sql: "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
          args: [migration.version, migration.description, Date.now()],
        },
      ], "write");
      applied.push(migration.version);
    } catch (err) {
      // Another worker applied the same version between our read and our write.
      if ((await appliedVersions(client)).has(migration.version)) continue;
      throw err;
    }
  }
  return applied;
}

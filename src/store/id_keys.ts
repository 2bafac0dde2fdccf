/**
 * Integer keys for the ids that the list indexes start with (tenant, device,
 * user): each id is stored once in `id_keys`, and the indexes of
 * `session_ends` hold its integer key instead of 36 characters. Index
 * entries are three times smaller, and storing a session end costs about a
 * quarter less (schema version 4).
 *
 * A key never changes and is never deleted once committed, so a process may
 * keep the keys it has seen.
 *
 * @module
 */
import type { InStatement } from "@libsql/client";

/**
 * SQL for the key of the id bound to the next `?`; NULL for an id never
 * stored, which then matches no row.
 */
export const KEY_OF = "(SELECT key FROM id_keys WHERE value = ?)";

/**
 * SQL for "the row is the tenant's": its key (what the indexes hold) and,
 * the tenant's boundary, its id on the row itself. Binds the tenant id twice:
 * see {@linkcode tenantArgs}.
 */
export const TENANT_IS = `tenant_key = ${KEY_OF} AND tenant_id = ?`;

/** The arguments of {@linkcode TENANT_IS}. */
export function tenantArgs(tenantId: string): [string, string] {
  return [tenantId, tenantId];
}

/** Runs one statement, in or out of a transaction. */
export type Execute = (stmt: InStatement) => Promise<{ rows: Record<string, unknown>[] }>;

/** Keys kept per process at most; beyond, the cache starts again (keys are read back). */
const CACHE_LIMIT = 200_000;

/** The keys this process has seen committed. */
export class IdKeyCache {
  #keys = new Map<string, number>();

  /** The key of `value`, if known. */
  get(value: string): number | undefined {
    return this.#keys.get(value);
  }

  /** Records keys read in a transaction that has committed since. */
  learn(keys: ReadonlyMap<string, number>): void {
    if (this.#keys.size + keys.size > CACHE_LIMIT) this.#keys = new Map();
    for (const [value, key] of keys) this.#keys.set(value, key);
  }
}

/**
 * The keys of `values`: from `cache` when known, otherwise created (if
 * needed) and read with `execute`, two statements for all the new ones.
 * Inside a write transaction, the keys it reads are committed with it: call
 * {@linkcode IdKeyCache.learn} with the result only once it has committed.
 */
export async function resolveKeys(
  execute: Execute,
  values: Iterable<string>,
  cache?: IdKeyCache,
): Promise<Map<string, number>> {
  const keys = new Map<string, number>();
  const missing = new Set<string>();
  for (const value of values) {
    const known = cache?.get(value);
    if (known === undefined) missing.add(value);
    else keys.set(value, known);
  }
  if (missing.size === 0) return keys;
  const list = JSON.stringify([...missing]);
  await execute({
    sql: `INSERT INTO id_keys (value) SELECT value FROM json_each(?) WHERE true
          ON CONFLICT (value) DO NOTHING`,
    args: [list],
  });
  const rs = await execute({
    sql: `SELECT key, value FROM id_keys WHERE value IN (SELECT value FROM json_each(?))`,
    args: [list],
  });
  for (const row of rs.rows) keys.set(String(row.value), Number(row.key));
  for (const value of missing) {
    if (!keys.has(value)) throw new Error(`no key stored for ${value}`);
  }
  return keys;
}

/** The ids a session end's row is indexed by (see {@linkcode resolveRowKeys}). */
export interface KeyedIds {
  event: { tenantId: string; deviceId: string; userId: string | null };
}

/** The ids of `rows` that have integer keys in the indexes. */
function* keyedIds(rows: Iterable<KeyedIds>): Generator<string> {
  for (const { event } of rows) {
    yield event.tenantId;
    yield event.deviceId;
    if (event.userId !== null) yield event.userId;
  }
}

/**
 * The integer keys of the tenant, device and user ids of `rows`, for the
 * session-end INSERTs ({@linkcode resolveKeys}: from `cache` when known,
 * created and read with `execute` otherwise).
 */
export function resolveRowKeys(
  execute: Execute,
  rows: Iterable<KeyedIds>,
  cache?: IdKeyCache,
): Promise<Map<string, number>> {
  return resolveKeys(execute, keyedIds(rows), cache);
}

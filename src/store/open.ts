/**
 * Opening libSQL from the configuration (local file, embedded replica or
 * remote): the client's settings, a local file's directory, the durability
 * a local file must have, and what a failure to open means.
 *
 * @module
 */
import { type Client, createClient } from "@libsql/client";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../config.ts";

/** Busy timeout of every local connection, in milliseconds, unless `DATABASE_BUSY_TIMEOUT_MS` says otherwise. */
export const BUSY_TIMEOUT_MS = 2_000;
/** How often an embedded replica pulls from its primary, in seconds. */
export const SYNC_INTERVAL_SECONDS = 60;

/** Where a `file:` URL points, relative paths resolved against the working directory. */
export function localPath(url: string): string | undefined {
  if (!url.startsWith("file:")) return undefined;
  const rest = url.slice("file:".length).split("?")[0];
  if (rest.startsWith("//")) return fileURLToPath(url.split("?")[0]);
  return rest;
}

/** What opening the database (`Database.open` in client.ts) needs from the configuration. */
export type DatabaseConfig =
  & Pick<Config, "databaseUrl">
  & Partial<
    Pick<
      Config,
      "databaseAuthToken" | "databaseSyncUrl" | "databaseEncryptionKey" | "databaseBusyTimeoutMs"
    >
  >;

/** Throws unless `synchronous` (a PRAGMA answer) is FULL or stricter. */
export function checkDurable(synchronous: unknown): void {
  const level = Number(synchronous);
  if (!(level >= 2)) {
    throw new Error(`libSQL opened the database with synchronous=${level}; FULL (2) is required`);
  }
}

/**
 * The database file cannot be read with the configured encryption key (or
 * lack of one). Start-up stops on it rather than create an empty database.
 */
export class DatabaseKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatabaseKeyError";
  }
}

/** The error to report for `err`, a failure to open the database: a key problem named as one. */
export function explainOpenFailure(config: DatabaseConfig, err: unknown): Error {
  const code = (err as { code?: string }).code ?? "";
  if (code !== "SQLITE_NOTADB" || !config.databaseUrl.startsWith("file:")) return err as Error;
  const path = localPath(config.databaseUrl);
  return new DatabaseKeyError(
    config.databaseEncryptionKey
      ? `DATABASE_ENCRYPTION_KEY: ${path} cannot be decrypted with this key (wrong key, or the file is not encrypted)`
      : `DATABASE_ENCRYPTION_KEY: ${path} is encrypted (or not a database): set the key it was created with`,
  );
}

/** A libSQL client for the configuration (busy timeout and sync interval set). */
export function createLibsqlClient(config: DatabaseConfig): Client {
  return createClient({
    url: config.databaseUrl,
    authToken: config.databaseAuthToken,
    syncUrl: config.databaseSyncUrl,
    syncInterval: config.databaseSyncUrl ? SYNC_INTERVAL_SECONDS : undefined,
    encryptionKey: config.databaseEncryptionKey,
    timeout: config.databaseBusyTimeoutMs ?? BUSY_TIMEOUT_MS,
  });
}

/** Creates the directory of a local database file (`path` from {@linkcode localPath}). */
export async function makeDirectoryOf(path: string | undefined): Promise<void> {
  if (!path || path === ":memory:") return;
  const dir = dirname(path);
  if (dir && dir !== ".") await Deno.mkdir(dir, { recursive: true });
}

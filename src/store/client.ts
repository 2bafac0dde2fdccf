/**
 * The database handle: one libSQL client (opened by open.ts) and, on a local
 * file, the off-thread writer and reader; it replaces a client that a failed
 * statement left unusable.
 *
 * @module
 */
import type {
  Client,
  InStatement,
  ResultSet,
  Row,
  Transaction,
  TransactionMode,
} from "@libsql/client";
import { mayBreakConnection } from "./db_errors.ts";
import { IdKeyCache } from "./id_keys.ts";
import {
  BUSY_TIMEOUT_MS,
  checkDurable,
  createLibsqlClient,
  type DatabaseConfig,
  explainOpenFailure,
  localPath,
  makeDirectoryOf,
} from "./open.ts";
import type { Party } from "../fair_turns.ts";
import { InterruptibleReader } from "./reader.ts";
import { untilAborted } from "../until_aborted.ts";
import { LocalWriter, type WriteTx } from "./writer.ts";

export type { WriteRow, WriteTx } from "./writer.ts";
export { BUSY_TIMEOUT_MS, DatabaseKeyError, localPath } from "./open.ts";
export type { DatabaseConfig } from "./open.ts";

/** Statements run inside {@linkcode Database.readTransaction}. */
export interface ReadTx {
  execute(stmt: InStatement): Promise<ResultSet>;
}

/** Statements that resolve to rows: a {@linkcode Database}, or its reads under a time budget. */
export interface RowSource {
  execute(stmt: InStatement): Promise<{ rows: Row[] }>;
}

/**
 * Where a verifier reads: single statements, and walks on one consistent
 * snapshot. A {@linkcode Database}, or its reads under a time budget.
 */
export interface SnapshotSource extends RowSource {
  readTransaction<T>(work: (tx: RowSource) => Promise<T>): Promise<T>;
}

/**
 * The database handle shared by ingest and API. It wraps a libSQL client and
 * replaces it after an error that can leave a local client broken
 * (`SQLITE_BUSY` and friends), so the next attempt starts clean. Write
 * transactions on a local file go through a {@linkcode LocalWriter}, off the
 * JavaScript thread.
 */
export class Database {
  #client: Client;
  readonly #config: DatabaseConfig;
  #writer: LocalWriter | undefined;
  #reader: InterruptibleReader | undefined;
  /** True for a `file:` database without a sync URL. */
  readonly isLocalFile: boolean;
  /** The integer keys of ids this process has seen committed (src/store/id_keys.ts). */
  readonly idKeys: IdKeyCache = new IdKeyCache();

  private constructor(config: DatabaseConfig, client: Client) {
    this.#config = config;
    this.#client = client;
    this.isLocalFile = config.databaseUrl.startsWith("file:") &&
      !config.databaseSyncUrl;
  }

  /** Opens the database; creates a local file's directory; sets WAL and checks durability. */
  static async open(config: DatabaseConfig): Promise<Database> {
    const path = localPath(config.databaseUrl);
    await makeDirectoryOf(path);
    let client: Client;
    try {
      client = createLibsqlClient(config);
      // Opening is lazy for some URLs; the first statement reads the file header.
      await client.execute("SELECT count(*) FROM sqlite_schema");
    } catch (err) {
      throw explainOpenFailure(config, err);
    }
    const db = new Database(config, client);
    if (db.isLocalFile) {
      try {
        await db.#configureLocalFile(path);
      } catch (err) {
        db.close();
        throw err;
      }
    }
    return db;
  }

  async #configureLocalFile(path: string | undefined): Promise<void> {
    await this.#client.execute("PRAGMA journal_mode = WAL");
    // An in-memory database exists only on its own connection: no separate writer.
    if (path && path !== ":memory:" && !path.startsWith(":memory:")) {
      this.#writer = new LocalWriter(path, {
        timeoutMs: this.#config.databaseBusyTimeoutMs ?? BUSY_TIMEOUT_MS,
        encryptionKey: this.#config.databaseEncryptionKey,
      });
      // An ack promises the row survives a crash: in WAL mode that takes
      // synchronous = FULL (2) or EXTRA (3); NORMAL may lose the last commits on power loss.
      checkDurable(await this.#writer.pragma("synchronous"));
    }
    const rs = await this.#client.execute("PRAGMA synchronous");
    checkDurable(rs.rows[0]?.[0]);
  }

  /** The current client. Do not keep it across an await that may fail. */
  get client(): Client {
    return this.#client;
  }

  /** Runs one statement, replacing the client if it failed in a way that can break it. */
  async execute(stmt: InStatement): Promise<ResultSet> {
    try {
      return await this.#client.execute(stmt);
    } catch (err) {
      this.#recoverFrom(err);
      throw err;
    }
  }

  /** Runs statements in one transaction, replacing the client if it failed in a way that can break it. */
  async batch(
    stmts: InStatement[],
    mode: TransactionMode = "write",
  ): Promise<ResultSet[]> {
    try {
      return await this.#client.batch(stmts, mode);
    } catch (err) {
      this.#recoverFrom(err);
      throw err;
    }
  }

  /**
   * Runs `work` inside one write transaction (`BEGIN IMMEDIATE`: no other
   * writer in between, so reads inside it see the final state) and commits;
   * rolls back when `work` or the commit fails, replacing the connection if
   * the failure can break it. On a local file the statements and the commit
   * run off the JavaScript thread.
   */
  async writeTransaction<T>(work: (tx: WriteTx) => Promise<T>): Promise<T> {
    if (this.#writer) return await this.#writer.transaction(work);
    let tx: Transaction | undefined;
    try {
      tx = await this.#client.transaction("write");
      const result = await work(tx);
      await tx.commit();
      return result;
    } catch (err) {
      this.#recoverFrom(err);
      throw err;
    } finally {
      tx?.close();
    }
  }

  /**
   * Runs a read that `signal` may stop, rejecting with `signal.reason`. On a
   * local file it runs off the JavaScript thread on a connection of its own,
   * in a fair turn of `party` (the tenant), and is interrupted
   * (src/store/reader.ts); elsewhere it runs as usual and its answer is
   * dropped when `signal` aborts first.
   */
  async readInterruptible(stmt: InStatement, signal: AbortSignal, party?: Party): Promise<Row[]> {
    const reader = this.#interruptibleReader();
    if (reader) return await reader.execute(stmt, signal, party);
    return (await untilAborted(this.execute(stmt), signal)).rows;
  }

  /**
   * {@linkcode Database.readTransaction} that `signal` may stop, rejecting
   * with `signal.reason`. On a local file the snapshot is read off the
   * JavaScript thread on a connection of its own, each statement in a fair
   * turn of `party` and interrupted when `signal` aborts; elsewhere each
   * statement's answer is dropped when `signal` aborts first.
   */
  async readSnapshot<T>(
    work: (tx: RowSource) => Promise<T>,
    signal: AbortSignal,
    party?: Party,
  ): Promise<T> {
    signal.throwIfAborted();
    const reader = this.#interruptibleReader();
    if (reader) return await reader.snapshot(work, signal, party);
    return await this.readTransaction((tx) =>
      work({ execute: (stmt) => untilAborted(tx.execute(stmt), signal) })
    );
  }

  /** The reader of heavy queries, on a local file (not in memory) only. */
  #interruptibleReader(): InterruptibleReader | undefined {
    const path = localPath(this.#config.databaseUrl);
    if (!this.isLocalFile || !path || path.startsWith(":memory:")) return undefined;
    return this.#reader ??= new InterruptibleReader(path, {
      timeoutMs: this.#config.databaseBusyTimeoutMs ?? BUSY_TIMEOUT_MS,
      encryptionKey: this.#config.databaseEncryptionKey,
    });
  }

  /**
   * Runs `work` on one consistent snapshot of the database (a read
   * transaction, on a connection of its own), so that what it reads is not
   * torn by writes committed meanwhile. An in-memory database has one
   * connection: there `work` reads it directly.
   */
  async readTransaction<T>(work: (tx: ReadTx) => Promise<T>): Promise<T> {
    if (localPath(this.#config.databaseUrl)?.startsWith(":memory:")) return await work(this);
    let tx: Transaction | undefined;
    try {
      tx = await this.#client.transaction("read");
      return await work(tx);
    } catch (err) {
      this.#recoverFrom(err);
      throw err;
    } finally {
      tx?.close();
    }
  }

  /** Answers whether the database responds to a trivial query. */
  async ping(): Promise<void> {
    await this.execute("SELECT 1");
  }

  #recoverFrom(err: unknown): void {
    if (!this.isLocalFile && !this.#config.databaseSyncUrl) return;
    if (mayBreakConnection(err)) {
      const broken = this.#client;
      try {
        this.#client = createLibsqlClient(this.#config);
      } catch {
        // cannot reopen now (file gone, directory read-only): keep the old one and retry later
        return;
      }
      try {
        broken.close();
      } catch {
        // already unusable
      }
    }
  }

  /** Closes the database (after the last write transaction has settled). */
  close(): void {
    this.#reader?.close();
    this.#writer?.close();
    this.#client.close();
  }
}

/**
 * Interruptible reads of a local database file. The read API's heavy
 * queries (statistics, export pages, integrity walks) run on connections
 * of their own through libSQL's promise API, off the JavaScript thread, so
 * a long aggregate does not stall every other request; a query whose signal
 * aborts (its time budget spent, the process shutting down, the client
 * gone) is interrupted (`SQLITE_INTERRUPT`) instead of running to its end.
 * Queries take fair turns at the connection (src/fair_turns.ts): tenants in
 * rotation, and under contention the connection's thread busy at most about
 * a quarter of the time, which leaves the JavaScript thread a core of its
 * own on a small box.
 * A walk that must not be torn by writes reads one snapshot (a read
 * transaction on a connection of its own) through the same turns.
 *
 * @module
 */
import NativeDatabase from "libsql/promise";
import type { InStatement, Row, Value } from "@libsql/client";
import { ANYONE, FairTurns, type Party } from "../fair_turns.ts";

/** How {@linkcode InterruptibleReader} opens its connections. */
export interface InterruptibleReaderOptions {
  /** Busy timeout, ms. */
  timeoutMs: number;
  /** The database's encryption key, if it is encrypted. */
  encryptionKey?: string;
}

/**
 * After a contended query the connection rests three times as long (at most 1 s): heavy queries
 * then take at most about a quarter of a core, on a box of two.
 */
const QUERY_PAUSE_FACTOR = 3;

/** How often an aborted query is interrupted again until it has settled, ms. */
const INTERRUPT_REPEAT_MS = 20;

/** A row as `@libsql/client` returns it: values by index and by column name. */
function toRow(values: unknown[], columns: string[]): Row {
  const row: Row = { length: 0 };
  // As @libsql/client's: only the column names are enumerable.
  Object.defineProperty(row, "length", { value: values.length, enumerable: false });
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as Value;
    Object.defineProperty(row, i, { value, enumerable: false });
    if (!Object.hasOwn(row, columns[i])) {
      Object.defineProperty(row, columns[i], { value, enumerable: true, writable: true });
    }
  }
  return row;
}

function positional(stmt: InStatement): { sql: string; args: unknown[] } {
  if (typeof stmt === "string") return { sql: stmt, args: [] };
  if (stmt.args !== undefined && !Array.isArray(stmt.args)) {
    throw new TypeError("the interruptible reader takes positional arguments only");
  }
  return { sql: stmt.sql, args: stmt.args ?? [] };
}

/** Statements read through {@linkcode InterruptibleReader.snapshot}. */
export interface SnapshotReads {
  execute(stmt: InStatement): Promise<{ rows: Row[] }>;
}

/**
 * Read connections that run one query at a time, in fair turns: a shared
 * one for single queries, and one of its own for each snapshot. A
 * connection is closed only once no statement runs on it (interrupting a
 * closed connection would crash the native library).
 */
export class InterruptibleReader {
  readonly #path: string;
  readonly #options: InterruptibleReaderOptions;
  readonly #turns = new FairTurns({ pauseFactor: QUERY_PAUSE_FACTOR });
  #connection: NativeDatabase | undefined;
  /** Every open connection, with the number of statements running on it. */
  readonly #open = new Map<NativeDatabase, number>();
  /** Connections to close as soon as their statements have settled. */
  readonly #closing = new Set<NativeDatabase>();
  /** Aborted by {@linkcode InterruptibleReader.close}: interrupts every running query. */
  readonly #closed = new AbortController();

  constructor(path: string, options: InterruptibleReaderOptions) {
    this.#path = path;
    this.#options = options;
  }

  #connect(): NativeDatabase {
    if (this.#closed.signal.aborted) throw new Error("the database reader is closed");
    const connection = new NativeDatabase(this.#path, {
      timeout: this.#options.timeoutMs,
      encryptionKey: this.#options.encryptionKey,
    });
    this.#open.set(connection, 0);
    return connection;
  }

  /** Closes `connection` now if it is idle, else once its last statement settles. */
  #closeWhenIdle(connection: NativeDatabase): void {
    if (!this.#open.has(connection)) return;
    if (this.#open.get(connection)! > 0) {
      this.#closing.add(connection);
      return;
    }
    this.#open.delete(connection);
    this.#closing.delete(connection);
    try {
      connection.close();
    } catch {
      // already unusable
    }
  }

  /**
   * Runs one read statement in a turn of `party` and resolves with its rows;
   * rejects with `signal.reason` when `signal` aborts first (while it waits
   * for its turn, or by interrupting the query).
   */
  async execute(stmt: InStatement, signal: AbortSignal, party = ANYONE): Promise<Row[]> {
    return await this.#run(() => this.#connection ??= this.#connect(), stmt, signal, party);
  }

  /**
   * Runs `work` on one consistent snapshot of the database: a read
   * transaction on a connection of its own, whose statements take turns of
   * `party` and are interrupted when `signal` aborts, like
   * {@linkcode InterruptibleReader.execute}'s. Closing the connection at the
   * end ends the transaction.
   */
  async snapshot<T>(
    work: (tx: SnapshotReads) => Promise<T>,
    signal: AbortSignal,
    party = ANYONE,
  ): Promise<T> {
    signal.throwIfAborted();
    const connection = this.#connect();
    try {
      // Deferred: the snapshot is taken by the first read, and held until the end.
      await connection.exec("BEGIN");
      const usable = () => {
        if (!this.#open.has(connection)) throw new Error("the database reader is closed");
        return connection;
      };
      return await work({
        execute: async (stmt) => ({ rows: await this.#run(usable, stmt, signal, party) }),
      });
    } finally {
      this.#closeWhenIdle(connection);
    }
  }

  async #run(
    connect: () => NativeDatabase,
    stmt: InStatement,
    signal: AbortSignal,
    party: Party,
  ): Promise<Row[]> {
    signal.throwIfAborted();
    const { sql, args } = positional(stmt);
    const release = await this.#turns.take(party, signal);
    let connection: NativeDatabase;
    try {
      // The signal may have aborted while the turn came: its listener below would never fire.
      signal.throwIfAborted();
      connection = connect();
    } catch (err) {
      release();
      throw err;
    }
    this.#open.set(connection, this.#open.get(connection)! + 1);
    // An interrupt reaches only a statement already running on the connection's thread: one
    // that falls between two statements, or before the first step, would be lost. So once the
    // signal aborts, interrupt again until the query has settled.
    let repeat: ReturnType<typeof setInterval> | undefined;
    const interrupt = () => {
      connection.interrupt();
      repeat = setInterval(() => connection.interrupt(), INTERRUPT_REPEAT_MS);
    };
    const stop = AbortSignal.any([signal, this.#closed.signal]);
    stop.addEventListener("abort", interrupt, { once: true });
    try {
      const statement = await connection.prepare(sql);
      statement.raw(true);
      const columns = statement.columns().map((column: { name: string }) => column.name);
      const rows: unknown[][] = await statement.all(args);
      signal.throwIfAborted();
      return rows.map((values) => toRow(values, columns));
    } catch (err) {
      signal.throwIfAborted();
      throw err;
    } finally {
      stop.removeEventListener("abort", interrupt);
      clearInterval(repeat);
      this.#open.set(connection, this.#open.get(connection)! - 1);
      if (this.#closing.has(connection)) this.#closeWhenIdle(connection);
      release();
    }
  }

  /** Interrupts running queries and closes the connections; later queries are refused. */
  close(): void {
    this.#closed.abort();
    this.#connection = undefined;
    for (const connection of [...this.#open.keys()]) this.#closeWhenIdle(connection);
  }
}

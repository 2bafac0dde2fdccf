/**
 * Interruptible reads of a local database file. The read API's heavy
 * queries (statistics, export pages, integrity walks) run on a connection
 * of their own through libSQL's promise API, off the JavaScript thread, so
 * a long aggregate does not stall every other request; a query whose signal
 * aborts (its time budget spent, the process shutting down, the client
 * gone) is interrupted (`SQLITE_INTERRUPT`) instead of running to its end.
 * Queries take fair turns at the connection (src/fair_turns.ts): tenants in
 * rotation, and the connection's thread busy at most about a quarter of the
 * time, which leaves the JavaScript thread a core of its own on a small box.
 *
 * @module
 */
import NativeDatabase from "libsql/promise";
import type { InStatement, Row, Value } from "@libsql/client";
import { FairTurns } from "../fair_turns.ts";

/** How {@linkcode InterruptibleReader} opens its connections. */
export interface InterruptibleReaderOptions {
  /** Busy timeout, ms. */
  timeoutMs: number;
  /** The database's encryption key, if it is encrypted. */
  encryptionKey?: string;
}

/**
 * After each query the connection rests three times as long (at most 1 s): heavy queries take at
 * most about a quarter of a core, on a box of two.
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

/** One read connection, running one query at a time, in fair turns. */
export class InterruptibleReader {
  readonly #path: string;
  readonly #options: InterruptibleReaderOptions;
  readonly #turns = new FairTurns({ pauseFactor: QUERY_PAUSE_FACTOR });
  #connection: NativeDatabase | undefined;
  #closed = false;

  constructor(path: string, options: InterruptibleReaderOptions) {
    this.#path = path;
    this.#options = options;
  }

  /**
   * Runs one read statement in a turn of `key` and resolves with its rows;
   * rejects with `signal.reason` when `signal` aborts first (while it waits
   * for its turn, or by interrupting the query).
   */
  async execute(stmt: InStatement, signal: AbortSignal, key = "*"): Promise<Row[]> {
    signal.throwIfAborted();
    const { sql, args } = positional(stmt);
    const release = await this.#turns.take(key, signal);
    if (this.#closed) {
      release();
      throw new Error("the database reader is closed");
    }
    const connection = this.#connection ??= new NativeDatabase(this.#path, {
      timeout: this.#options.timeoutMs,
      encryptionKey: this.#options.encryptionKey,
    });
    // An interrupt reaches only a statement already running on the connection's thread: one
    // that falls between two statements, or before the first step, would be lost. So once the
    // signal aborts, interrupt again until the query has settled.
    let repeat: ReturnType<typeof setInterval> | undefined;
    const interrupt = () => {
      connection.interrupt();
      repeat = setInterval(() => connection.interrupt(), INTERRUPT_REPEAT_MS);
    };
    signal.addEventListener("abort", interrupt, { once: true });
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
      signal.removeEventListener("abort", interrupt);
      clearInterval(repeat);
      release();
    }
  }

  /** Interrupts a running query and closes the connection; later queries are refused. */
  close(): void {
    this.#closed = true;
    try {
      this.#connection?.interrupt();
      this.#connection?.close();
    } catch {
      // already unusable
    }
    this.#connection = undefined;
  }
}

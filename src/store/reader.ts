/**
 * Interruptible reads of a local database file. The read API's heavy
 * queries (statistics, export pages, integrity walks) run on connections of
 * their own through libSQL's promise API, off the JavaScript thread, so a
 * long aggregate does not stall every other request; a query whose signal
 * aborts (its time budget spent, the process shutting down, the client
 * gone) is interrupted (`SQLITE_INTERRUPT`) instead of running to its end.
 *
 * @module
 */
import NativeDatabase from "libsql/promise";
import type { InStatement, Row, Value } from "@libsql/client";

/** How {@linkcode InterruptibleReader} opens its connections. */
export interface InterruptibleReaderOptions {
  /** Busy timeout, ms. */
  timeoutMs: number;
  /** The database's encryption key, if it is encrypted. */
  encryptionKey?: string;
  /**
   * Connections, hence queries running at once; more wait their turn.
   * @default 2
   */
  connections?: number;
}

/** How often an aborted query is interrupted again until it has settled, ms. */
const INTERRUPT_REPEAT_MS = 20;

interface Waiter {
  resolve(connection: NativeDatabase): void;
  reject(reason: unknown): void;
  signal: AbortSignal;
  onAbort(): void;
}

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

/** A few read connections, each running one query at a time, in order of arrival. */
export class InterruptibleReader {
  readonly #path: string;
  readonly #options: InterruptibleReaderOptions;
  readonly #idle: NativeDatabase[] = [];
  readonly #open: NativeDatabase[] = [];
  readonly #waiting: Waiter[] = [];
  #closed = false;

  constructor(path: string, options: InterruptibleReaderOptions) {
    this.#path = path;
    this.#options = options;
  }

  /**
   * Runs one read statement and resolves with its rows; rejects with
   * `signal.reason` when `signal` aborts first (while it waits for a
   * connection, or by interrupting the query).
   */
  async execute(stmt: InStatement, signal: AbortSignal): Promise<Row[]> {
    signal.throwIfAborted();
    const { sql, args } = positional(stmt);
    const connection = await this.#acquire(signal);
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
      this.#release(connection);
    }
  }

  #acquire(signal: AbortSignal): Promise<NativeDatabase> {
    if (this.#closed) return Promise.reject(new Error("the database reader is closed"));
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#open.length < (this.#options.connections ?? 2)) {
      const connection = new NativeDatabase(this.#path, {
        timeout: this.#options.timeoutMs,
        encryptionKey: this.#options.encryptionKey,
      });
      this.#open.push(connection);
      return Promise.resolve(connection);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
          reject(signal.reason);
        },
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #release(connection: NativeDatabase): void {
    if (this.#closed) return;
    const next = this.#waiting.shift();
    if (!next) {
      this.#idle.push(connection);
      return;
    }
    next.signal.removeEventListener("abort", next.onAbort);
    next.resolve(connection);
  }

  /** Interrupts running queries, refuses waiting ones and closes every connection. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) {
      waiter.signal.removeEventListener("abort", waiter.onAbort);
      waiter.reject(new Error("the database reader is closed"));
    }
    for (const connection of this.#open.splice(0)) {
      try {
        connection.interrupt();
        connection.close();
      } catch {
        // already unusable
      }
    }
    this.#idle.length = 0;
  }
}

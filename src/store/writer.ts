/**
 * The write connection of a local database file: one libSQL connection
 * driven through libSQL's promise API, whose statements and commits (fsync
 * included) run on a thread of their own instead of the JavaScript thread.
 * While a batch commits, the process keeps receiving and decoding the next
 * one; `@libsql/client`'s local connections are synchronous and would
 * stall everything for the length of every commit.
 *
 * Transactions are serialised in this process (first come, first served) and
 * start with `BEGIN IMMEDIATE`, so they wait for other processes' writers
 * for at most the busy timeout. A transaction in which any statement failed
 * never commits (SQLite itself would commit the statements that did not
 * fail), and its ROLLBACK waits for the statements already queued, so none
 * runs after it outside the transaction.
 *
 * @module
 */
import NativeDatabase from "libsql/promise";
import type { InStatement, InValue } from "@libsql/client";
import { mayBreakConnection } from "./db_errors.ts";

/** A row read inside a write transaction, by column name. */
export type WriteRow = Record<string, unknown>;

/** What the work of a write transaction can do. */
export interface WriteTx {
  /** Runs one statement; resolves with its rows (none for most writes). */
  execute(stmt: InStatement): Promise<{ rows: WriteRow[] }>;
  /** Runs statements one after the other. */
  batch(stmts: InStatement[]): Promise<unknown>;
}

/** How {@linkcode LocalWriter} opens its connection. */
export interface LocalWriterOptions {
  /** Busy timeout, ms. */
  timeoutMs: number;
  /** The database's encryption key, if it is encrypted. */
  encryptionKey?: string;
}

/**
 * Prepared statements kept per connection, least recently used dropped first.
 * The ingest statements are a fixed set of about fifty texts (see `chunkSizes`).
 */
const STATEMENT_CACHE = 64;

type Statement = Awaited<ReturnType<NativeDatabase["prepare"]>>;

function toNative(value: InValue): unknown {
  if (value === undefined) {
    throw new TypeError("undefined cannot be passed as argument to the database");
  }
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return value.valueOf();
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return value;
}

/**
 * `args` with each value as the native binding takes it; the array itself
 * when nothing needed converting (an INSERT of 1,000 rows has 17,000
 * arguments, none of them converted).
 */
function toNativeArgs(args: InValue[]): unknown[] {
  let converted: unknown[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const native = toNative(args[i]);
    if (native !== args[i]) (converted ??= args.slice())[i] = native;
  }
  return converted ?? args;
}

function normalise(stmt: InStatement): { sql: string; args: unknown[] } {
  if (typeof stmt === "string") return { sql: stmt, args: [] };
  if (stmt.args !== undefined && !Array.isArray(stmt.args)) {
    throw new TypeError("the local writer takes positional arguments only");
  }
  return { sql: stmt.sql, args: toNativeArgs(stmt.args ?? []) };
}

/**
 * The statements of one transaction: run one at a time in call order (a
 * prepared statement is shared by every call with the same text), refused
 * after the first failure and after the end.
 */
class TransactionSteps {
  #previous: Promise<unknown> = Promise.resolve();
  #failure: { error: unknown } | undefined;
  #ended = false;

  /** Queues `step` after the ones before; rejects at once after a failure or the end. */
  run<R>(step: () => Promise<R>): Promise<R> {
    if (this.#ended) return Promise.reject(new Error("the transaction is over"));
    const result = this.#previous.then(() => {
      if (this.#failure) throw this.#failure.error;
      return step();
    });
    this.#previous = result.catch((error) => {
      this.#failure ??= { error };
    });
    return result;
  }

  /** Refuses further steps, waits for the queued ones; rejects with the first failure. */
  async end(): Promise<void> {
    this.#ended = true;
    await this.#previous;
    if (this.#failure) throw this.#failure.error;
  }
}

/** One connection, its prepared statements, and a queue of transactions. */
export class LocalWriter {
  readonly #path: string;
  readonly #options: LocalWriterOptions;
  #db: NativeDatabase;
  #statements = new Map<string, Statement>();
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(path: string, options: LocalWriterOptions) {
    this.#path = path;
    this.#options = options;
    this.#db = this.#open();
  }

  #open(): NativeDatabase {
    return new NativeDatabase(this.#path, {
      timeout: this.#options.timeoutMs,
      encryptionKey: this.#options.encryptionKey,
    });
  }

  /** Reads one PRAGMA's value on this connection. */
  async pragma(name: string): Promise<unknown> {
    const rows = await this.#run(`PRAGMA ${name}`, []);
    const first = rows[0];
    return first === undefined ? undefined : Object.values(first)[0];
  }

  async #prepare(sql: string): Promise<Statement> {
    const cached = this.#statements.get(sql);
    if (cached) {
      this.#statements.delete(sql); // most recently used last
      this.#statements.set(sql, cached);
      return cached;
    }
    const statement = await this.#db.prepare(sql);
    if (this.#statements.size >= STATEMENT_CACHE) {
      this.#statements.delete(this.#statements.keys().next().value as string);
    }
    this.#statements.set(sql, statement);
    return statement;
  }

  async #run(sql: string, args: unknown[]): Promise<WriteRow[]> {
    const statement = await this.#prepare(sql);
    return await statement.all(args) as WriteRow[];
  }

  /**
   * Runs `work` in one write transaction and commits it; rolls back when
   * `work` or the commit fails (then replaces the connection if the failure
   * can leave it unusable) and rethrows.
   */
  transaction<T>(work: (tx: WriteTx) => Promise<T>): Promise<T> {
    const turn = this.#queue.then(() => this.#transaction(work));
    this.#queue = turn.catch(() => {});
    return turn;
  }

  async #transaction<T>(work: (tx: WriteTx) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error("the database writer is closed");
    const steps = new TransactionSteps();
    const tx: WriteTx = {
      execute: (stmt) =>
        steps.run(async () => {
          const { sql, args } = normalise(stmt);
          return { rows: await this.#run(sql, args) };
        }),
      batch: (stmts) =>
        steps.run(async () => {
          for (const stmt of stmts) {
            const { sql, args } = normalise(stmt);
            await this.#run(sql, args);
          }
        }),
    };
    try {
      await this.#db.exec("BEGIN IMMEDIATE");
      try {
        const result = await work(tx);
        await steps.end(); // rejects with the first statement's failure, even one `work` caught
        await this.#db.exec("COMMIT");
        return result;
      } catch (err) {
        await steps.end().catch(() => {}); // the statements queued run (and fail) first
        await this.#db.exec("ROLLBACK").catch(() => {}); // nothing to roll back if BEGIN failed
        throw err;
      }
    } catch (err) {
      this.#recoverFrom(err);
      throw err;
    }
  }

  #recoverFrom(err: unknown): void {
    if (!mayBreakConnection(err) || this.#closed) return;
    let fresh: NativeDatabase;
    try {
      fresh = this.#open();
    } catch {
      return; // cannot reopen now (file gone, directory read-only): keep this one, retry later
    }
    const broken = this.#db;
    this.#db = fresh;
    this.#statements = new Map();
    try {
      broken.close();
    } catch {
      // already unusable
    }
  }

  /** Closes the connection; call it after the last transaction has settled. */
  close(): void {
    this.#closed = true;
    this.#statements.clear();
    this.#db.close();
  }
}

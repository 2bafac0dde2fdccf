/**
 * The ingest loop: pulls session ends from the durable consumer in batches,
 * stores each batch in one transaction, then acks what was committed, terms
 * what was quarantined, and naks with a growing delay when the database
 * fails. Re-binds when the consumer or its stream disappears.
 *
 * @module
 */
import type {
  ConsumerMessages,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
} from "@nats-io/jetstream";
import { setImmediate } from "node:timers";
import { backoffDelay, sleep } from "../backoff.ts";
import { decodeSessionEnd } from "../event.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { bindConsumer, type ConsumerSettings } from "../nats/consumer.ts";
import type { Readiness } from "../readiness.ts";
import type { Database } from "../store/client.ts";
import {
  ChainHeadCache,
  commitBatch,
  type DeadLetter,
  type IncomingSessionEnd,
  prepareBatch,
  prepareBatchInSlices,
  type PreparedBatch,
} from "../store/session_ends.ts";

/** What the ingest loop needs. */
export interface IngestDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  db: Database;
  consumer: ConsumerSettings;
  /**
   * Messages in one transaction while the consumer keeps up. Behind a
   * backlog a transaction takes the messages waiting, up to
   * {@linkcode BACKLOG_BATCH_FACTOR} times this: fewer durable commits per
   * event (see {@linkcode batchLimit}).
   */
  batchSize: number;
  logger: Logger;
  metrics: Metrics;
  readiness: Readiness;
  /** Called after a commit that stored new rows (wakes live feeds). */
  onStored?: () => void;
}

/**
 * How much larger a transaction grows behind a deep backlog. A commit's cost
 * (fsync, index pages rewritten) barely depends on its size, so 5 × 500 rows
 * per commit stores a 200,000-event backlog about twice as fast as 500.
 * Not more: two batches are in memory at once (one committing, the next
 * gathered). With V8 letting the heap double before a full collection
 * (`--heap-growing-percent=100` in `deno task start`, a third less CPU for
 * the garbage collector), a backlog drain peaked at 200.9 MB at 6 × 500 and
 * at 160.7–162.9 MB at 5 × 500, as fast (`deno task bench`).
 */
export const BACKLOG_BATCH_FACTOR = 5;

/**
 * How many messages the batch that starts with a message followed by
 * `pending` others (as the server counted when it delivered it) may take:
 * `batchSize` while the consumer keeps up, and behind a backlog all that is
 * waiting, up to {@linkcode BACKLOG_BATCH_FACTOR} × `batchSize`.
 */
export function batchLimit(pending: number, batchSize: number): number {
  return Math.min(batchSize * BACKLOG_BATCH_FACTOR, Math.max(batchSize, pending + 1));
}

/**
 * How many batches of `batchSize` messages one pull asks for. Two keep a
 * batch arriving while the previous one commits; a backlog transaction
 * (up to {@linkcode BACKLOG_BATCH_FACTOR} batches) fills from several
 * pulls. Every message waiting in the client is memory: pulling 8 batches
 * at a time instead of 2 raised the peak resident memory of a 200,000-event
 * drain by about 13 MB.
 */
export const PULL_BATCHES = 2;

/** How long to wait for more messages before committing a partial batch, ms. */
const LINGER_MS = 5;
/**
 * The same behind a backlog: more messages are known to be coming, and a
 * short gap in delivery would otherwise cut the batch and cost a commit.
 */
const BACKLOG_LINGER_MS = 100;
/**
 * Lifetime of one pull request, ms. The server's idle heartbeat is half of it,
 * and two missed heartbeats make the client look the consumer up: a consumer
 * deleted by an operator is noticed within about this long (nats-server 2.9
 * does not tell a waiting pull that its consumer is gone).
 */
const PULL_EXPIRES_MS = 5_000;
/** How much later than a failed batch the messages arriving after it are due again. */
const RETRY_MARGIN_MS = 250;
/** Consumer notifications after which the consumer is looked up and bound again. */
const REBIND_ON = new Set([
  "consumer_deleted",
  "consumer_not_found",
  "stream_not_found",
]);

/** A decoded message, ready to store or quarantine. */
type Decoded =
  | { msg: JsMsg; kind: "valid"; row: IncomingSessionEnd }
  | { msg: JsMsg; kind: "invalid"; letter: DeadLetter };

function receivedAt(msg: JsMsg): number {
  return Math.floor(msg.info.timestampNanos / 1_000_000);
}

/** Decodes one message into a row or a dead letter. Never throws. */
export function classify(msg: JsMsg, stream: string): Decoded {
  const result = decodeSessionEnd(msg.data);
  if (result.ok) {
    return {
      msg,
      kind: "valid",
      row: {
        event: result.event,
        streamSeq: msg.info.streamSequence,
        receivedAt: receivedAt(msg),
      },
    };
  }
  return {
    msg,
    kind: "invalid",
    letter: {
      stream,
      streamSeq: msg.info.streamSequence,
      subject: msg.subject,
      payload: msg.data,
      error: result.reason,
      receivedAt: receivedAt(msg),
    },
  };
}

/**
 * Runs the ingest loop until `signal` aborts; then stops pulling, commits
 * and acks the batch in hand, and resolves.
 */
export async function runIngest(
  deps: IngestDeps,
  signal: AbortSignal,
): Promise<void> {
  const { js, jsm, consumer, logger, readiness } = deps;
  let failures = 0;
  while (!signal.aborted) {
    if (!await bindConsumer(jsm, consumer, logger, readiness, signal)) break;
    let messages: ConsumerMessages;
    try {
      const bound = await js.consumers.get(consumer.stream, consumer.durable);
      messages = await bound.consume({
        max_messages: deps.batchSize * PULL_BATCHES,
        expires: PULL_EXPIRES_MS,
      });
    } catch (err) {
      readiness.fail("consumer", `cannot consume: ${(err as Error).message}`);
      logger.warn("cannot start consuming; binding again", { error: err });
      await sleep(backoffDelay(0, { baseMs: 1_000 }), signal);
      continue;
    }
    logger.info("consuming", {
      stream: consumer.stream,
      durable: consumer.durable,
      subject: consumer.subject,
    });
    const stopPulling = () => messages.stop();
    signal.addEventListener("abort", stopPulling, { once: true });
    const watcher = watchNotifications(messages, deps);
    try {
      failures = await drainBatches(messages, deps, failures);
    } finally {
      signal.removeEventListener("abort", stopPulling);
      messages.stop();
      await watcher;
    }
  }
}

/** Stops `messages` when the consumer or stream is gone, so the loop binds again. */
async function watchNotifications(
  messages: ConsumerMessages,
  deps: IngestDeps,
): Promise<void> {
  for await (const note of messages.status()) {
    if (REBIND_ON.has(note.type)) {
      deps.readiness.fail(
        "consumer",
        `consumer lost (${note.type}); binding again`,
      );
      deps.logger.warn("consumer lost; binding again", {
        notification: note.type,
      });
      messages.stop();
      return;
    }
    if (note.type === "heartbeats_missed") {
      deps.logger.warn("consumer heartbeats missed", { count: note.count });
    } else if (note.type === "next" || note.type === "heartbeat") {
      // routine
    } else {
      deps.logger.debug("consumer notification", { notification: note.type });
    }
  }
}

/** A batch decoded and split, ready to store. */
interface DecodedBatch {
  messages: JsMsg[];
  decoded: Decoded[];
  rows: IncomingSessionEnd[];
  letters: DeadLetter[];
}

/**
 * Messages handled between two turns of the event loop while gathering and
 * decoding a batch. The previous batch's statements run on the database's
 * thread, but each is issued from this one when the one before it
 * completes: without these turns a 2,500-message batch would keep this
 * thread, and leave the database idle, for a tenth of a second.
 */
const SLICE = 100;

/**
 * Lets the event loop run (I/O and database completions) before going on.
 * `setImmediate`, not `setTimeout(0)`: nested timers are clamped to 4 ms.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Decodes a batch (on the JavaScript thread: done while the previous batch commits). */
export async function decodeBatch(batch: JsMsg[], stream: string): Promise<DecodedBatch> {
  const decoded: Decoded[] = [];
  for (let i = 0; i < batch.length; i++) {
    if (i > 0 && i % SLICE === 0) await nextTurn();
    decoded.push(classify(batch[i], stream));
  }
  const rows: IncomingSessionEnd[] = [];
  const letters: DeadLetter[] = [];
  for (const d of decoded) {
    if (d.kind === "valid") rows.push(d.row);
    else letters.push(d.letter);
  }
  return { messages: batch, decoded, rows, letters };
}

/**
 * Reads batches until the iterator ends. Returns the count of consecutive
 * failed batches.
 *
 * One batch is stored at a time, in the order received, while the next one
 * is gathered and decoded: a local database commits off the JavaScript
 * thread, so receiving and decoding overlap with the commit.
 */
async function drainBatches(
  messages: ConsumerMessages,
  deps: IngestDeps,
  failuresSoFar: number,
): Promise<number> {
  const it = messages[Symbol.asyncIterator]();
  let failures = failuresSoFar;
  let waiting: Promise<IteratorResult<JsMsg>> | undefined;
  let done = false;
  /** While the database is failing: when the failed batch's messages are due again. */
  let retryAt = 0;
  /** ... and until when everything else that arrives is set aside (a margin later). */
  let asideUntil = 0;
  /** The batch being stored. */
  let storing: Promise<BatchResult> | undefined;
  /** The acks (and terms) of the stored batches, going out. */
  let settling: Promise<void> = Promise.resolve();
  let storingBatch: JsMsg[] = [];
  /**
   * Stream sequences of messages nak'd because their batch failed. Back
   * before `retryAt` they wait until then; after it they are stored (one
   * attempt for all of them), while anything else arriving before
   * `asideUntil` is set aside to come back after them.
   */
  const retrying = new Set<number>();
  /** The chain heads expected once the batches prepared so far are committed. */
  const heads = new ChainHeadCache();
  /** Waits for the batch being stored; after a failure, sets arrivals aside. */
  const settleStoring = async () => {
    if (storing === undefined) return;
    const result = await storing;
    storing = undefined;
    failures = result.failures;
    // Slices of acks can overlap: a small batch's may end before a large one's before it.
    settling = Promise.all([settling, result.settled]).then(() => {});
    for (const msg of storingBatch) {
      if (failures > 0) retrying.add(msg.info.streamSequence);
      else retrying.delete(msg.info.streamSequence);
    }
    storingBatch = [];
    if (failures > 0) {
      // The database is failing. Nothing received after the failed batch may be stored before it
      // (of an idle pair, idle_timeout must win), so until its messages are due again (and a
      // margin) everything else that arrives is set aside, to come back after them.
      retryAt = Date.now() + retryDelay(failures);
      asideUntil = retryAt + RETRY_MARGIN_MS;
    }
  };
  /** While the database is failing: until when `msg` must wait (0: it need not). */
  const waitUntil = (msg: JsMsg) => {
    const until = retrying.has(msg.info.streamSequence) ? retryAt : asideUntil;
    return until > Date.now() ? until : 0;
  };
  const mustWait = (msg: JsMsg) => waitUntil(msg) > 0;
  const setAside = (batch: JsMsg[]) => {
    for (const msg of batch) msg.nak(Math.max(1, waitUntil(msg) - Date.now()));
    deps.metrics.countEvents("retried", batch.length);
  };
  try {
    while (!done) {
      const first = await (waiting ?? it.next());
      waiting = undefined;
      if (first.done) break;
      if (mustWait(first.value)) {
        setAside([first.value]);
        continue;
      }
      const batch = [first.value];
      const backlog = first.value.info.pending >= deps.batchSize;
      const limit = batchLimit(first.value.info.pending, deps.batchSize);
      // Always with a linger: the iterator's getPending() can count a message that is not there
      // (nats.js counts the pull-refill callbacks it queues after an expired pull), and waiting
      // on it would hold the batch, unacknowledged, until the server redelivers something.
      const linger = new Linger(backlog ? BACKLOG_LINGER_MS : LINGER_MS);
      try {
        while (
          batch.length < limit && (batch[batch.length - 1].info.pending > 0 || retrying.size > 0)
        ) {
          waiting = it.next();
          const next = await Promise.race([waiting, linger.idle]);
          if (next === undefined) break; // nothing within the linger: commit what we have
          waiting = undefined;
          linger.arrived();
          if (next.done) {
            done = true;
            break;
          }
          if (mustWait(next.value)) {
            setAside([next.value]);
            continue;
          }
          batch.push(next.value);
          if (batch.length % SLICE === 0) await nextTurn();
        }
      } finally {
        linger.cancel();
      }
      const decoded = await decodeBatch(batch, deps.consumer.stream);
      // Its chain is computed now, while the previous batch commits (checked in the transaction).
      let prepared = await prepareBatchInSlices(
        decoded.rows,
        decoded.letters,
        heads,
        nextTurn,
        SLICE,
      );
      await settleStoring();
      if (batch.some(mustWait)) {
        // Gathered while the previous batch was failing: everything in it is newer than that batch.
        heads.reset();
        setAside(batch);
        continue;
      }
      if (prepared.ahead && prepared.ahead.generation !== heads.generation) {
        // The previous batch did not commit as prepared: this chain started from the wrong heads.
        prepared = prepareBatch(decoded.rows, decoded.letters, heads);
      }
      storingBatch = batch;
      storing = processBatch(decoded, prepared, heads, deps, failures);
    }
  } finally {
    await settleStoring();
    await settling; // every stored batch's acks go out before this returns
  }
  return failures;
}

/**
 * The redelivery delay after `failures` consecutive failed batches: every
 * message set aside by one failure gets the same delay, so they come back
 * together and in stream order.
 */
export function retryDelay(failures: number): number {
  return backoffDelay(Math.min(failures - 1, 10), { baseMs: 1_000, maxMs: 30_000, jitter: 0 });
}

/**
 * The wait for the rest of a batch: {@linkcode Linger.idle} resolves once
 * no message has arrived for `ms`. One timer for the whole batch, re-armed
 * only when it fires early, instead of one per message (a timer is a call
 * into the runtime, and a batch can be 2,500 messages).
 */
export class Linger {
  readonly idle: Promise<undefined>;
  readonly #ms: number;
  #last = performance.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resolve!: (value: undefined) => void;

  constructor(ms: number) {
    this.#ms = ms;
    this.idle = new Promise((resolve) => this.#resolve = resolve);
    this.#arm(ms);
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => {
      const quiet = performance.now() - this.#last;
      if (quiet >= this.#ms) this.#resolve(undefined);
      else this.#arm(this.#ms - quiet);
    }, delay);
  }

  /** A message arrived: the wait starts again from now. */
  arrived(): void {
    this.#last = performance.now();
  }

  /** Stops the timer (the batch is complete). */
  cancel(): void {
    clearTimeout(this.#timer);
  }
}

/** How a batch went: the consecutive failure count, and its acks going out. */
interface BatchResult {
  failures: number;
  settled: Promise<void>;
}

const NOTHING_TO_SETTLE = Promise.resolve();

/**
 * Stores one decoded batch and settles each message: ack after commit
 * (stored or duplicate), term after its dead letter is committed (both
 * starting on the event loop's next turn), nak with a growing delay when
 * the transaction fails. Never rejects.
 */
export async function processBatch(
  batch: DecodedBatch,
  prepared: PreparedBatch,
  heads: ChainHeadCache,
  deps: IngestDeps,
  failures: number,
): Promise<BatchResult> {
  const { db, metrics, logger, readiness } = deps;
  let inserted: Set<string>;
  try {
    ({ inserted } = await commitBatch(db, prepared, heads));
  } catch (err) {
    const failed = failures + 1;
    readiness.fail("database", `cannot write: ${(err as Error).message}`);
    metrics.add("session_audit_batch_failures_total", 1);
    metrics.countEvents("retried", batch.messages.length);
    const delay = retryDelay(failed);
    for (const msg of batch.messages) msg.nak(delay);
    logger.warn("batch not stored; messages nak'd for redelivery", {
      error: err,
      messages: batch.messages.length,
      consecutive_failures: failed,
    });
    return { failures: failed, settled: NOTHING_TO_SETTLE };
  }
  if (failures > 0) {
    logger.info("database writable again", { after_failures: failures });
  }
  readiness.ok("database");
  metrics.add("session_audit_batches_total", 1);
  if (inserted.size > 0) deps.onStored?.();
  return { failures: 0, settled: settleStored(batch, inserted, deps) };
}

/**
 * Acks a committed batch's messages (terms its quarantined ones) and counts
 * them. Starts on the event loop's next turn, so that the next batch's
 * transaction (started as soon as the commit is reported) is already on the
 * database's thread, and lets the loop run every {@linkcode SLICE}
 * messages, so that the transaction's statements are not kept waiting.
 */
async function settleStored(
  batch: DecodedBatch,
  inserted: Set<string>,
  deps: IngestDeps,
): Promise<void> {
  const { metrics, logger } = deps;
  let stored = 0;
  let duplicates = 0;
  let i = 0;
  try {
    for (const d of batch.decoded) {
      if (i++ % SLICE === 0) await nextTurn();
      if (d.kind === "invalid") {
        d.msg.term();
        logger.warn("event quarantined", {
          subject: d.letter.subject,
          stream_seq: d.letter.streamSeq,
          reason: d.letter.error,
        });
        continue;
      }
      d.msg.ack();
      // The first event for a session in this batch is the one that was inserted.
      if (inserted.delete(d.row.event.sessionId)) stored++;
      else duplicates++;
    }
  } catch (err) {
    // The connection closed under us: the rest comes back after the ack wait, and is absorbed
    // as duplicates.
    logger.warn("cannot acknowledge a committed batch; the server will redeliver it", {
      error: err,
      messages: batch.messages.length,
      acknowledged: i - 1,
    });
  }
  metrics.countEvents("stored", stored);
  metrics.countEvents("duplicate", duplicates);
  metrics.countEvents("quarantined", batch.letters.length);
  logger.debug("batch stored", {
    messages: batch.messages.length,
    stored,
    duplicates,
    quarantined: batch.letters.length,
  });
}

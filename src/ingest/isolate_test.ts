import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { sessionEnd } from "../../tests/harness.ts";
import { FakeMsg } from "../testing/fake_msg.ts";
import { decodeBatch } from "./decode.ts";
import { isolatePoison, ISOLATION_ATTEMPTS } from "./isolate.ts";
import type { Commit } from "./settle.ts";
import { ChainHeadCache, type PreparedBatch } from "../store/chain_prep.ts";
import { type BatchOutcome, emptyOutcome } from "../store/commit.ts";

/** An error as libSQL reports a trigger's RAISE(ABORT, ...). */
function refused(message: string): Error {
  return Object.assign(new Error(message), { code: "SQLITE_CONSTRAINT_TRIGGER" });
}

/**
 * A database that refuses any transaction holding a row of a `poison`
 * session (as a trigger would), and records what it committed.
 */
function database(poison: Set<string>, options: { failAfter?: number; transient?: Error } = {}) {
  const committedRows: number[][] = [];
  const letters: Array<{ seq: number; error: string }> = [];
  let calls = 0;
  const commit: Commit = (prepared: PreparedBatch) => {
    calls++;
    if (options.failAfter !== undefined && calls > options.failAfter) {
      return Promise.reject(options.transient);
    }
    if (prepared.rows.some((r) => poison.has(r.event.sessionId))) {
      return Promise.reject(refused("poison row refused"));
    }
    const outcome: BatchOutcome = emptyOutcome();
    for (const row of prepared.rows) {
      outcome.inserted.add(row.event.sessionId);
      outcome.written.add(row.streamSeq);
    }
    committedRows.push(prepared.rows.map((r) => r.streamSeq));
    for (const l of prepared.deadLetters) letters.push({ seq: l.streamSeq, error: l.error });
    return Promise.resolve(outcome);
  };
  return { commit, committedRows, letters, calls: () => calls };
}

async function batchOf(payloads: Array<object | string>) {
  const msgs = payloads.map((p, i) =>
    new FakeMsg({ seq: i + 1, data: typeof p === "string" ? p : JSON.stringify(p) })
  );
  return await decodeBatch(msgs, { stream: "DEVICE_EVENTS" });
}

Deno.test("the poison messages are isolated and quarantined; every other message is stored", async () => {
  const events = Array.from({ length: 20 }, () => sessionEnd());
  const poison = new Set([events[6].session_id, events[13].session_id]);
  const batch = await batchOf([...events.slice(0, 10), "{not json", ...events.slice(10)]);
  const db = database(poison);
  const result = await isolatePoison(db.commit, batch, new ChainHeadCache());
  // Tried whole again (the first attempt was the caller's), then split.
  ok(db.calls() > ISOLATION_ATTEMPTS - 1);
  const stored = db.committedRows.flat().sort((a, b) => a - b);
  const expected = batch.rows.map((r) => r.streamSeq).filter((seq) => seq !== 7 && seq !== 15);
  deepStrictEqual(stored, expected, "every row but the two poison ones, each once");
  deepStrictEqual([...result.refused.keys()], [7, 15]);
  for (const error of result.refused.values()) {
    equal(error, "the database refused this event: SQLITE_CONSTRAINT_TRIGGER: poison row refused");
  }
  // Their dead letters are committed with that error; the invalid message's with its own.
  deepStrictEqual(db.letters.map((l) => l.seq).sort((a, b) => a - b), [7, 11, 15]);
  match(db.letters.find((l) => l.seq === 11)?.error ?? "", /^not JSON/);
  deepStrictEqual(result.retry, new Set());
  equal(result.transient, undefined);
});

Deno.test("a refusal that goes away when tried again stores the batch whole", async () => {
  const events = [sessionEnd(), sessionEnd()];
  const batch = await batchOf(events);
  let calls = 0;
  const commit: Commit = () => {
    calls++;
    return Promise.resolve(emptyOutcome());
  };
  const result = await isolatePoison(commit, batch, new ChainHeadCache());
  equal(calls, 1);
  deepStrictEqual(result.refused, new Map());
});

Deno.test("a transient failure met while isolating stops it; the messages not settled are retried", async () => {
  const events = Array.from({ length: 8 }, () => sessionEnd());
  const batch = await batchOf(events);
  const busy = Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
  const db = database(new Set([events[1].session_id]), {
    failAfter: ISOLATION_ATTEMPTS + 1,
    transient: busy,
  });
  const result = await isolatePoison(db.commit, batch, new ChainHeadCache());
  equal(result.transient, busy);
  const stored = new Set(db.committedRows.flat());
  for (const seq of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const places = [stored.has(seq), result.refused.has(seq), result.retry.has(seq)];
    equal(places.filter(Boolean).length, 1, `seq ${seq} is stored, refused or retried: ${places}`);
  }
  ok(result.retry.size > 0, "something was left to retry");
});

Deno.test("a message whose dead letter is refused too is retried, not dropped", async () => {
  const events = [sessionEnd(), sessionEnd()];
  const batch = await batchOf(events);
  const commit: Commit = (prepared) =>
    prepared.rows.some((r) => r.event.sessionId === events[0].session_id) ||
      prepared.deadLetters.length > 0
      ? Promise.reject(refused("nothing of this session"))
      : Promise.resolve(emptyOutcome());
  const result = await isolatePoison(commit, batch, new ChainHeadCache());
  deepStrictEqual(result.retry, new Set([1]));
  deepStrictEqual(result.refused, new Map());
});

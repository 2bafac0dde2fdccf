import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { sessionEnd } from "../../tests/harness.ts";
import { createLogger, type LogFields } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { Readiness } from "../readiness.ts";
import { FakeMsg } from "../testing/fake_msg.ts";
import { decodeBatch } from "./decode.ts";
import { retryDelay } from "./retry_gate.ts";
import { CommitSlot } from "./commit_slot.ts";
import { ackAfterCommit, type Commit, commitAndSettle, committed } from "./settle.ts";
import { ChainHeadCache, prepareBatch } from "../store/chain_prep.ts";
import { type BatchOutcome, emptyOutcome } from "../store/commit.ts";
import { nextTurn } from "./turns.ts";

/** The deps of settling, and what they saw. */
function observed() {
  const logs: LogFields[] = [];
  const deps = {
    logger: createLogger("debug", (line) => logs.push(JSON.parse(line))),
    metrics: new Metrics(),
    readiness: new Readiness(),
    onStored: () => storedCalls.count++,
  };
  const storedCalls = { count: 0 };
  const events = (outcome: string) => deps.metrics.get("session_audit_events_total", { outcome });
  return { deps, logs, storedCalls, events };
}

/** A commit the test completes (or fails) when it chooses. */
function heldCommit() {
  const held = Promise.withResolvers<BatchOutcome>();
  let calls = 0;
  const commit: Commit = () => {
    calls++;
    return held.promise;
  };
  return { commit, held, calls: () => calls };
}

/** Messages whose payloads are these events (objects) or raw text (strings), decoded. */
async function batchOf(...payloads: Array<object | string>) {
  const msgs = payloads.map((payload, i) =>
    new FakeMsg({
      seq: i + 1,
      data: typeof payload === "string" ? payload : JSON.stringify(payload),
    })
  );
  const batch = await decodeBatch(msgs, { stream: "DEVICE_EVENTS" });
  return { msgs, batch, prepared: prepareBatch(batch.rows, batch.letters) };
}

/** The outcome of a commit that stored `events`, each the first message of its session (seq i + 1). */
function inserted(...events: Array<{ session_id: string }>): BatchOutcome {
  const outcome = emptyOutcome();
  for (const e of events) outcome.inserted.add(e.session_id);
  return outcome;
}

/** `outcome` with the stream sequences it wrote. */
function writing(outcome: BatchOutcome, ...seqs: number[]): BatchOutcome {
  for (const seq of seqs) outcome.written.add(seq);
  return outcome;
}

Deno.test("nothing is acked before the commit; after it, every message is settled once", async () => {
  const [a, b, c] = [sessionEnd(), sessionEnd(), sessionEnd()];
  const { msgs, batch, prepared } = await batchOf(a, b, "{bad", c);
  const { commit, held, calls } = heldCommit();
  const { deps } = observed();
  const outcome = commitAndSettle(commit, batch, prepared, new ChainHeadCache(), 0, deps);
  for (let i = 0; i < 5; i++) await nextTurn();
  equal(calls(), 1);
  for (const msg of msgs) {
    deepStrictEqual(msg.kinds, [], `seq ${msg.seq} settled before the commit`);
  }
  held.resolve(writing(inserted(a, b, c), 1, 2, 4));
  await (await outcome).settled;
  deepStrictEqual(msgs.map((m) => m.kinds), [["ack"], ["ack"], ["term"], ["ack"]]);
});

Deno.test("the acks start on a later turn than the commit's report", async () => {
  const event = sessionEnd();
  const { msgs, batch, prepared } = await batchOf(event);
  const { deps } = observed();
  const commit: Commit = () => Promise.resolve(writing(inserted(event), 1));
  const result = await commitAndSettle(commit, batch, prepared, new ChainHeadCache(), 0, deps);
  equal(result.failures, 0);
  deepStrictEqual(msgs[0].kinds, [], "acked before the loop could start the next transaction");
  await result.settled;
  deepStrictEqual(msgs[0].kinds, ["ack"]);
});

Deno.test("a quarantined message is terminated without a reason and logged with one", async () => {
  const { msgs, batch, prepared } = await batchOf(
    JSON.stringify({ ...sessionEnd(), device_id: 1 }),
  );
  const { deps, logs, events } = observed();
  const commit: Commit = () => Promise.resolve(emptyOutcome());
  await (await commitAndSettle(commit, batch, prepared, new ChainHeadCache(), 0, deps)).settled;
  // nats-server 2.9 ignores `+TERM <reason>`: the message would come back after the ack wait.
  deepStrictEqual(msgs[0].settlements, [{ kind: "term", args: [] }]);
  const line = logs.find((l) => l.msg === "event quarantined");
  ok(line, "no log line for the quarantined event");
  equal(line.stream_seq, 1);
  match(String(line.reason), /device_id/);
  equal(line.class, "identity");
  equal(events("quarantined"), 1);
  equal(deps.metrics.get("session_audit_quarantined_total", { class: "identity" }), 1);
  equal(events("stored") + events("duplicate"), 0);
});

Deno.test("the event written for each session counts as stored, the others as duplicates", async () => {
  const [first, already] = [sessionEnd(), sessionEnd()];
  const again = { ...first, reason: "normal" };
  const second = sessionEnd();
  const { msgs, batch, prepared } = await batchOf(first, again, already, second);
  const { deps, events, storedCalls } = observed();
  const commit: Commit = () => Promise.resolve(writing(inserted(first, second), 1, 4));
  await (await commitAndSettle(commit, batch, prepared, new ChainHeadCache(), 0, deps)).settled;
  deepStrictEqual(msgs.map((m) => m.kinds), [["ack"], ["ack"], ["ack"], ["ack"]]);
  equal(events("stored"), 2);
  equal(events("duplicate"), 2);
  equal(storedCalls.count, 1, "live feeds woken once per batch with new rows");
  equal(deps.metrics.get("session_audit_batches_total"), 1);
});

Deno.test("a batch of only duplicates wakes no live feed", async () => {
  const { batch, prepared } = await batchOf(sessionEnd());
  const { deps, storedCalls } = observed();
  const commit: Commit = () => Promise.resolve(emptyOutcome());
  await (await commitAndSettle(commit, batch, prepared, new ChainHeadCache(), 0, deps)).settled;
  equal(storedCalls.count, 0);
});

Deno.test("a correction counts as corrected, a conflict is terminated as quarantined", async () => {
  const [earlier, foreign] = [sessionEnd({ reason: "idle_timeout" }), sessionEnd()];
  const { msgs, batch, prepared } = await batchOf(earlier, foreign);
  const { deps, events, storedCalls, logs } = observed();
  const outcome = writing(emptyOutcome(), 1);
  outcome.corrected.add(earlier.session_id);
  outcome.quarantined.set(2, "session_id … is stored for tenant …");
  const commit: Commit = () => Promise.resolve(outcome);
  await (await commitAndSettle(commit, batch, prepared, new ChainHeadCache(), 0, deps)).settled;
  deepStrictEqual(msgs.map((m) => m.kinds), [["ack"], ["term"]]);
  deepStrictEqual([events("corrected"), events("stored"), events("quarantined")], [1, 0, 1]);
  equal(deps.metrics.get("session_audit_quarantined_total", { class: "conflict" }), 1);
  equal(storedCalls.count, 1, "a correction wakes live feeds: the feed shows it");
  ok(logs.some((l) => l.msg === "event quarantined" && l.class === "conflict"));
});

Deno.test("the anomalies of the rows written are counted by field; a duplicate's are not", async () => {
  const odd = { ...sessionEnd(), user_id: "bob", source_ip: "unknown" };
  const { batch, prepared } = await batchOf(odd, { ...odd, reason: "normal" });
  const { deps } = observed();
  const commit: Commit = () => Promise.resolve(writing(inserted(odd), 1));
  await (await commitAndSettle(commit, batch, prepared, new ChainHeadCache(), 0, deps)).settled;
  const count = (field: string) => deps.metrics.get("session_audit_anomalies_total", { field });
  deepStrictEqual([count("user_id"), count("source_ip"), count("reason")], [1, 1, 0]);
});

Deno.test("a failed transaction naks every message with the grown delay, acks none", async () => {
  const { msgs, batch, prepared } = await batchOf(sessionEnd(), "{bad", sessionEnd());
  const { deps, events, logs } = observed();
  const commit: Commit = () => Promise.reject(new Error("SQLITE_BUSY: database is locked"));
  const result = await commitAndSettle(commit, batch, prepared, new ChainHeadCache(), 2, deps);
  await result.settled;
  equal(result.failures, 3);
  equal(result.messages, batch.messages);
  for (const msg of msgs) {
    deepStrictEqual(msg.settlements, [{ kind: "nak", delay: retryDelay(3) }], `seq ${msg.seq}`);
  }
  equal(deps.readiness.ready, false);
  match(deps.readiness.problems().database, /cannot write \(transient\): SQLITE_BUSY/);
  equal(events("retried"), 3);
  equal(events("stored") + events("duplicate") + events("quarantined"), 0);
  equal(deps.metrics.get("session_audit_batch_failures_total"), 1);
  equal(deps.metrics.get("session_audit_batches_total"), 0);
  ok(logs.some((l) => l.msg === "batch not stored; messages nak'd for redelivery"));
});

/** The rendered lines of one histogram, without its name. */
function histogramLines(deps: { metrics: Metrics }, name: string): string[] {
  return deps.metrics.render().split("\n").filter((l) => l.startsWith(name)).map((l) =>
    l.slice(name.length)
  );
}

Deno.test("a committed batch is observed: commit duration, size, each message's publish-to-commit lag", async () => {
  const commitAt = 1_773_000_100_000;
  const events = [sessionEnd(), sessionEnd(), sessionEnd()];
  // Published 2 s and 30 s before the commit, and one 5 s after it (another host's clock).
  const msgs = [2_000, 30_000, -5_000].map((before, i) =>
    new FakeMsg({ seq: i + 1, data: JSON.stringify(events[i]), receivedAtMs: commitAt - before })
  );
  const batch = await decodeBatch(msgs, { stream: "DEVICE_EVENTS" });
  const { deps } = observed();
  const monotonic = [5_000, 5_040]; // the commit takes 40 ms
  const clocks = { monotonic: { now: () => monotonic.shift()! }, wall: { now: () => commitAt } };
  const commit: Commit = () => Promise.resolve(inserted(...events));
  const prepared = prepareBatch(batch.rows, batch.letters);
  const result = await commitAndSettle(commit, batch, prepared, new ChainHeadCache(), 0, {
    ...deps,
    clocks,
  });
  await result.settled;
  const commitLines = histogramLines(deps, "session_audit_batch_commit_duration_seconds");
  ok(commitLines.includes('_bucket{le="0.025"} 0'));
  ok(commitLines.includes('_bucket{le="0.05"} 1'));
  ok(commitLines.includes("_sum 0.04"));
  const sizeLines = histogramLines(deps, "session_audit_batch_size_messages");
  ok(sizeLines.includes('_bucket{le="1"} 0'));
  ok(sizeLines.includes('_bucket{le="5"} 1'));
  ok(sizeLines.includes("_sum 3"));
  const lagLines = histogramLines(deps, "session_audit_end_to_end_lag_seconds");
  // 0 (ahead of this clock), just under 2 s and just under 30 s (the timestamp's extra 123 µs).
  const expected = ['{le="0.01"} 1', '{le="1"} 1', '{le="2.5"} 2', '{le="10"} 2', '{le="30"} 3'];
  for (const line of expected) ok(lagLines.includes(`_bucket${line}`), line);
  ok(lagLines.includes("_count 3"));
  const lagSum = deps.metrics.histogram("session_audit_end_to_end_lag_seconds").sum;
  ok(Math.abs(lagSum - 32) < 0.001, `a lag ahead of the clock counts as 0: sum ${lagSum}`);
});

Deno.test("a failed commit is not observed in the commit histograms", async () => {
  const { batch, prepared } = await batchOf(sessionEnd(), sessionEnd());
  const { deps } = observed();
  const commit: Commit = () => Promise.reject(new Error("SQLITE_BUSY: database is locked"));
  await (await commitAndSettle(commit, batch, prepared, new ChainHeadCache(), 0, deps)).settled;
  for (
    const name of [
      "session_audit_batch_commit_duration_seconds",
      "session_audit_batch_size_messages",
      "session_audit_end_to_end_lag_seconds",
    ]
  ) {
    equal(deps.metrics.histogram(name).count, 0, name);
  }
});

Deno.test("a commit after failures makes the database ready again and resets the count", async () => {
  const event = sessionEnd();
  const { batch, prepared } = await batchOf(event);
  const { deps, logs } = observed();
  deps.readiness.fail("database", "cannot write: locked");
  const commit: Commit = () => Promise.resolve(writing(inserted(event), 1));
  const result = await commitAndSettle(commit, batch, prepared, new ChainHeadCache(), 4, deps);
  await result.settled;
  equal(result.failures, 0);
  equal(deps.readiness.ready, true);
  ok(logs.some((l) => l.msg === "database writable again" && l.after_failures === 4));
});

Deno.test("acking stops when the connection closes; the rest is left to redelivery", async () => {
  const [a, b, c] = [sessionEnd(), sessionEnd(), sessionEnd()];
  const { msgs, batch } = await batchOf(a, b, c);
  msgs[1].closeConnection();
  msgs[2].closeConnection();
  const { deps, logs, events } = observed();
  await ackAfterCommit(batch, committed(writing(inserted(a, b, c), 1, 2, 3)), deps);
  deepStrictEqual(msgs.map((m) => m.kinds), [["ack"], [], []]);
  const line = logs.find((l) =>
    l.msg === "cannot acknowledge a committed batch; the server will redeliver it"
  );
  ok(line, "the failed ack was not logged");
  equal(line.acknowledged, 1);
  equal(events("stored"), 1);
});

Deno.test("one batch commits at a time; its result is reported and every ack awaited", async () => {
  const [a, b] = [sessionEnd(), sessionEnd()];
  const first = await batchOf(a);
  const second = await batchOf(b);
  const commits = [heldCommit(), heldCommit()];
  let next = 0;
  const { deps } = observed();
  const slot = new CommitSlot((prepared, heads) => commits[next++].commit(prepared, heads), deps);
  equal(await slot.finish(), undefined, "nothing was committing");
  slot.start(first.batch, first.prepared, new ChainHeadCache(), 0);
  commits[0].held.reject(Object.assign(new Error("database or disk is full"), {
    code: "SQLITE_FULL",
  }));
  const failed = await slot.finish();
  equal(failed?.messages, first.batch.messages);
  equal(failed?.failures, 1);
  slot.start(second.batch, second.prepared, new ChainHeadCache(), 1);
  commits[1].held.resolve(writing(inserted(b), 1));
  const stored = await slot.finish();
  equal(stored?.failures, 0);
  await slot.settled();
  deepStrictEqual(first.msgs[0].settlements, [{ kind: "nak", delay: retryDelay(1) }]);
  deepStrictEqual(second.msgs[0].kinds, ["ack"]);
});

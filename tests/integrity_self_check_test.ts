/**
 * The integrity self-check: the first round walks each tenant in full, the
 * next ones only what was added; a chain rewritten, cut short or given a
 * forged checkpoint below the head it verified is reported at the next
 * round, even without a key or a copy (it remembers the head); a plain edit
 * below that head waits for the daily full walk; a purge between rounds is
 * no alarm. Its metrics are those the alert reads.
 */
import { equal, match } from "node:assert/strict";
import type { ChainBreak } from "../src/integrity/chain.ts";
import type { CheckpointRecord } from "../src/integrity/checkpoint_record.ts";
import { readCheckpoints, writePeriodicCheckpoints } from "../src/integrity/checkpoints.ts";
import { type Keyring, keyringOf, NO_KEYS } from "../src/integrity/keyring.ts";
import { FULL_CHECK_EVERY_MS, IntegritySelfCheck } from "../src/integrity/self_check.ts";
import { hmacSigner } from "../src/integrity/signing.ts";
import { verifyTenant } from "../src/integrity/verify.ts";
import { createLogger } from "../src/log.ts";
import { Metrics } from "../src/metrics.ts";
import { purgeWithCheckpoints } from "../src/retention.ts";
import { FakeTimers } from "../src/testing/fake_timers.ts";
import type { Database } from "../src/store/client.ts";
import { storeBatch } from "../src/store/commit.ts";
import { waitFor } from "./harness.ts";
import { Attacker } from "./integrity_attacker.ts";
import { incoming, NOW, TENANT, withDb } from "./store_fixture.ts";

const KEY = "self-check-signing-key-0123456789-abcdef";

interface Prepared {
  db: Database;
  path: string;
  check: IntegritySelfCheck;
  metrics: Metrics;
  logs: string[];
  /** The self-check's wall clock, ms. */
  clock: { now: number };
  keyring: Keyring;
}

/** Rows 1-20 checkpointed, a first round; 21-25 checkpointed, a second round; then `body`. */
async function withPrepared(keyring: Keyring, body: (p: Prepared) => Promise<void>): Promise<void> {
  await withDb(async (db, path) => {
    const metrics = new Metrics();
    const logs: string[] = [];
    const clock = { now: NOW + 1_000_000 };
    const check = new IntegritySelfCheck({
      db,
      keyring,
      metrics,
      logger: createLogger("info", (line) => logs.push(line)),
      clock: { now: () => clock.now },
    });
    for (let n = 1; n <= 20; n++) await storeBatch(db, [incoming(n)], [], NOW + n * 1000);
    await writePeriodicCheckpoints(db, keyring, NOW + 30_000);
    const first = await check.checkOnce();
    equal(first.fullWalks, 1);
    equal(first.rowsChecked, 20);
    for (let n = 21; n <= 25; n++) await storeBatch(db, [incoming(n)], [], NOW + 40_000 + n);
    await writePeriodicCheckpoints(db, keyring, NOW + 50_000);
    const second = await check.checkOnce();
    equal(second.fullWalks, 0, "the second round resumes");
    equal(second.rowsChecked, 5, "and walks only what was added");
    equal(second.broken.size, 0);
    await body({ db, path, check, metrics, logs, clock, keyring });
  });
}

/** Runs `attack` on a prepared database, then one round; returns the tenant's break. */
async function afterAttack(
  keyring: Keyring,
  attack: (a: Attacker, p: Prepared) => Promise<void>,
  body: (p: Prepared, broken: ChainBreak | undefined) => void,
): Promise<void> {
  await withPrepared(keyring, async (p) => {
    await Attacker.with(p.path, (a) => attack(a, p));
    const round = await p.check.checkOnce();
    body(p, round.broken.get(TENANT));
  });
}

const signed = keyringOf(await hmacSigner(KEY));

Deno.test("the self-check walks in full once, then resumes; its metrics say when and how it went", async () => {
  await withPrepared(signed, async (p) => {
    equal(p.metrics.get("session_audit_integrity_broken_tenants"), 0);
    equal(p.metrics.get("session_audit_integrity_checks_total"), 2);
    equal(
      p.metrics.get("session_audit_integrity_last_check_timestamp_seconds"),
      Math.floor(p.clock.now / 1000),
    );
    // A correction of a row verified in an earlier round: its link is checked, and holds.
    await storeBatch(p.db, [incoming(3, { reason: "idle_timeout" }, 0)], [], NOW + 60_000);
    const round = await p.check.checkOnce();
    equal(round.broken.size, 0, JSON.stringify([...round.broken]));
    equal(round.rowsChecked, 1);
  });
});

for (
  const [name, keyring] of [["with a key", signed], ["without a key or a copy", NO_KEYS]] as const
) {
  Deno.test(`${name}, a chain rewritten below the head verified last is reported at the next round`, async () => {
    await afterAttack(keyring, async (a) => {
      await a.update(TENANT, 10, { reason: "shutdown" });
      await a.cover(TENANT, 10);
    }, (p, broken) => {
      equal(broken?.problem, "altered");
      equal(broken?.chain_seq, 25);
      equal(p.metrics.get("session_audit_integrity_broken_tenants"), 1);
      match(p.logs.join("\n"), /integrity self-check: chain broken/);
    });
  });

  Deno.test(`${name}, a chain cut short, rewound and stripped of its checkpoints is reported at the next round`, async () => {
    await afterAttack(keyring, async (a) => {
      await a.truncate(TENANT, 15);
    }, (p, broken) => {
      equal(broken?.problem, "missing");
      equal(p.metrics.get("session_audit_integrity_broken_tenants"), 1);
    });
  });
}

for (const kind of ["periodic", "purge"]) {
  Deno.test(`with a key, an unsigned ${kind} checkpoint added between rounds is reported forged`, async () => {
    await afterAttack(signed, async (a) => {
      await a.insertCheckpoint(await a.nextUnsigned(TENANT, kind, await a.head(TENANT)));
    }, (_, broken) => {
      equal(broken?.problem, "forged");
      equal(broken?.chain_seq, 25);
    });
  });
}

Deno.test("rows it verified after the last checkpoint, then cut and the head rewound, are reported at the next round", async () => {
  await withPrepared(NO_KEYS, async (p) => {
    for (let n = 26; n <= 30; n++) await storeBatch(p.db, [incoming(n)], [], NOW + 60_000 + n);
    equal((await p.check.checkOnce()).rowsChecked, 5);
    await Attacker.with(p.path, async (a) => {
      await a.deleteAt(TENANT, "chain_seq > 27");
      await a.cover(TENANT, 27);
    });
    const broken = (await p.check.checkOnce()).broken.get(TENANT);
    equal(broken?.problem, "missing");
    equal(broken?.chain_seq, 30);
    match(broken?.detail ?? "", /verified before, is gone/);
  });
});

Deno.test("a plain edit below the verified head waits for the daily full walk, which reports it", async () => {
  await withPrepared(signed, async (p) => {
    await Attacker.with(p.path, (a) => a.update(TENANT, 7, { duration_seconds: 1 }));
    equal(
      (await p.check.checkOnce()).broken.size,
      0,
      "an incremental round does not re-read old rows",
    );
    p.clock.now += FULL_CHECK_EVERY_MS;
    const round = await p.check.checkOnce();
    equal(round.fullWalks, 1);
    equal(round.broken.get(TENANT)?.problem, "altered");
    equal(round.broken.get(TENANT)?.chain_seq, 7);
  });
});

Deno.test("a retention purge between rounds is no alarm: the tenant is walked again from its new anchor", async () => {
  await withPrepared(signed, async (p) => {
    await purgeWithCheckpoints(p.db, NOW + 10_500, {
      keyring: p.keyring,
      clock: { now: () => NOW + 70_000 },
    });
    const round = await p.check.checkOnce();
    equal(round.broken.size, 0, JSON.stringify([...round.broken]));
    equal(round.fullWalks, 1);
    equal(round.rowsChecked, 15);
  });
});

Deno.test("a round hashes at most its budget and the walk catches up over the next rounds; what it has not reached yet is still checked when it gets there", async () => {
  await withDb(async (db, path) => {
    for (let n = 1; n <= 25; n++) await storeBatch(db, [incoming(n)], [], NOW + n * 1000);
    await writePeriodicCheckpoints(db, signed, NOW + 30_000); // vouches for 25
    const metrics = new Metrics();
    const check = new IntegritySelfCheck({
      db,
      keyring: signed,
      metrics,
      logger: createLogger("error"),
    });
    const first = await check.checkOnce(7);
    equal(first.rowsChecked, 7);
    equal(first.behind, 1);
    equal(first.broken.size, 0, "a walk that stopped on its budget judges nothing beyond");
    // Rows not reached yet are rewritten (re-hashed): the checkpoint at 25 still vouches for them.
    await Attacker.with(path, async (a) => {
      await a.update(TENANT, 15, { reason: "shutdown" });
      await a.cover(TENANT, 15);
    });
    const rounds = [];
    for (let i = 0; i < 3; i++) rounds.push(await check.checkOnce(7));
    equal(rounds.map((r) => r.rowsChecked).join(","), "7,7,4");
    equal(rounds[0].broken.size, 0);
    const broken = rounds.at(-1)?.broken.get(TENANT);
    equal(broken?.problem, "altered");
    // Rows walked without a checkpoint behind them prove nothing against a re-hash: the rewrite
    // is named from the last position a checkpoint vouched for, here the genesis.
    equal(broken?.chain_seq, 1);
    match(broken?.detail ?? "", /between positions 1 and 25/);
    equal(metrics.get("session_audit_integrity_broken_tenants"), 1);
  });
});

Deno.test("a checkpoint verified in an earlier round and changed since is reported at the next round", async () => {
  await afterAttack(signed, async (a) => {
    const [last] = (await a.checkpoints(TENANT)).slice(-1);
    await a.updateCheckpoint(TENANT, last.ordinal, { signature: "AAAA" });
  }, (_, broken) => {
    equal(broken?.problem, "altered");
    match(broken?.detail ?? "", /changed after it was verified/);
  });
});

Deno.test("a second row at the position where two reads of a walk meet is reported", async () => {
  await withDb(async (db, path) => {
    const rows = Array.from({ length: 600 }, (_, i) => incoming(i + 1));
    await storeBatch(db, rows, [], NOW);
    // The walk reads 500 rows at a time.
    await Attacker.with(path, (a) => a.insertCopy(TENANT, 500, 500));
    const check = new IntegritySelfCheck({
      db,
      keyring: NO_KEYS,
      metrics: new Metrics(),
      logger: createLogger("error", () => {}),
      clock: { now: () => NOW + 1_000_000 },
    });
    const round = await check.checkOnce();
    equal(round.broken.get(TENANT)?.problem, "inserted");
    equal(round.broken.get(TENANT)?.chain_seq, 500);
  });
});

Deno.test("a copy whose last checkpoint carries another signature is reported by the self-check, at its first round and later ones, and by the verifier", async () => {
  await withPrepared(signed, async (p) => {
    const genuine = (await readCheckpoints(p.db, TENANT)).at(-1) as CheckpointRecord;
    const other = {
      ...genuine,
      signature: genuine.signature.replace(/^./, (c) => c === "A" ? "B" : "A"),
    };
    let copied = genuine;
    // Without a key nothing verifies a signature: only the comparison with the copy sees it.
    const unkeyed = (latestInCopy: () => Promise<typeof genuine>) =>
      new IntegritySelfCheck({
        db: p.db,
        keyring: NO_KEYS,
        metrics: new Metrics(),
        logger: createLogger("error", () => {}),
        latestInCopy,
        clock: { now: () => p.clock.now },
      });
    const check = unkeyed(() => Promise.resolve(copied));
    equal((await check.checkOnce()).broken.size, 0, "the copy as published");
    copied = other;
    const later = (await check.checkOnce()).broken.get(TENANT);
    equal(later?.problem, "altered", "an incremental round");
    match(later?.detail ?? "", /differs from the checkpoint \d+ of the independent copy/);

    const fresh = unkeyed(() => Promise.resolve(other));
    equal((await fresh.checkOnce()).broken.get(TENANT)?.problem, "altered", "a first round");

    const copy = { read: () => Promise.resolve([other]), tenants: () => Promise.resolve([TENANT]) };
    const verified = await verifyTenant(p.db, TENANT, NO_KEYS, copy);
    equal(verified.ok, false);
    equal(verified.first_broken?.problem, "altered");
  });
});

Deno.test("the self-check's first round comes one interval after its start, then one each interval, on its timers", async () => {
  await withDb(async (db) => {
    for (let n = 1; n <= 5; n++) await storeBatch(db, [incoming(n)], [], NOW + n * 1000);
    const timers = new FakeTimers(NOW + 100_000);
    const metrics = new Metrics();
    const rounds = () => metrics.get("session_audit_integrity_checks_total");
    const check = new IntegritySelfCheck({
      db,
      keyring: NO_KEYS,
      metrics,
      logger: createLogger("error", () => {}),
      clock: timers,
      timers,
    });
    const stop = new AbortController();
    const running = check.run(60_000, stop.signal);
    /** The self-check has armed its `n`th wait. */
    const waiting = (n: number) => waitFor(`wait ${n}`, () => timers.armed === n, 10_000, 5);

    await waiting(1);
    timers.advance(59_999);
    equal(timers.armed, 1, "the first interval has not passed");
    equal(rounds(), 0);
    timers.advance(1);
    await waiting(2);
    equal(rounds(), 1);
    equal(
      metrics.get("session_audit_integrity_last_check_timestamp_seconds"),
      Math.floor((NOW + 160_000) / 1000),
      "stamped by its clock",
    );
    timers.advance(60_000);
    await waiting(3);
    equal(rounds(), 2);
    stop.abort();
    await running;
    equal(rounds(), 2, "no round once stopped");
  });
});

/**
 * The checkpoint writer vouches only for what the verifier trusts: with a
 * signing key it never chains a signed checkpoint over an unsigned one
 * appended after signed ones, nor over a forged one (a periodic round skips
 * the tenant, a purge rolls back), while the unsigned checkpoints written
 * before a key was configured are still chained over. Its rounds follow
 * its timers.
 */
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import {
  readCheckpoints,
  type RefusedCheckpoint,
  runCheckpointer,
  UntrustedCheckpointError,
  writePeriodicCheckpoints,
} from "../src/integrity/checkpoints.ts";
import { keyringOf, NO_KEYS } from "../src/integrity/keyring.ts";
import { hmacSigner } from "../src/integrity/signing.ts";
import { createLogger, type LogFields } from "../src/log.ts";
import { Metrics } from "../src/metrics.ts";
import { purgeOnce, purgeWithCheckpoints } from "../src/retention.ts";
import { FakeTimers } from "../src/testing/fake_timers.ts";
import type { Database } from "../src/store/client.ts";
import { storeBatch } from "../src/store/commit.ts";
import { waitFor } from "./harness.ts";
import { Attacker } from "./integrity_attacker.ts";
import { arriving, count, tenantEvent, withDb } from "./store_fixture.ts";

const T = "aaaaaaaa-0000-4000-8000-00000000000a";
const AT = Date.UTC(2026, 2, 12, 12);
const DAY = 86_400_000;
const keyring = keyringOf(await hmacSigner("checkpointer-signing-key-0123456789-abcdef"));

/** Stores `n` rows of T, the batch recorded at `at`. */
let next = 0;
async function store(db: Database, n: number, at: number): Promise<void> {
  const rows = [];
  for (let i = 0; i < n; i++, next++) rows.push(arriving(tenantEvent(T, next), next + 1));
  await storeBatch(db, rows, [], at);
}

/** A periodic round, with the tenants it refused. */
async function periodic(db: Database, at: number) {
  const refused: RefusedCheckpoint[] = [];
  const written = await writePeriodicCheckpoints(db, keyring, at, (r) => refused.push(r));
  return { written: written.map((c) => c.ordinal), refused: refused.map((r) => r.tenantId) };
}

for (
  const [what, forge] of [
    [
      "an unsigned checkpoint appended after signed ones",
      async (a: Attacker) => {
        await a.insertCheckpoint(await a.nextUnsigned(T, "purge", await a.rowAt(T, 12)));
      },
    ],
    [
      "a checkpoint whose signature does not verify",
      async (a: Attacker) => {
        const [first] = await a.checkpoints(T);
        const next = await a.nextUnsigned(T, "purge", await a.rowAt(T, 12));
        await a.insertCheckpoint({ ...next, algorithm: first.algorithm, keyId: first.keyId });
      },
    ],
  ] as const
) {
  Deno.test(`the checkpointer does not chain over ${what}, nor does a purge`, async () => {
    await withDb(async (db, path) => {
      await store(db, 10, AT);
      deepStrictEqual(await periodic(db, AT + 1), { written: [1], refused: [] });
      await store(db, 5, AT + 60_000);
      await Attacker.with(path, forge);

      deepStrictEqual(await periodic(db, AT + 61_000), { written: [], refused: [T] });
      deepStrictEqual((await readCheckpoints(db, T)).map((c) => c.ordinal), [1, 2]);

      const rows = await count(db, "session_ends");
      await rejects(
        purgeWithCheckpoints(db, AT + 30_000, { keyring, clock: { now: () => AT + 200_000 } }),
        UntrustedCheckpointError,
      );
      equal(await count(db, "session_ends"), rows, "the purge rolled back");

      // The hourly runner's purge: refused the same way, counted for the alert, logged.
      const metrics = new Metrics();
      const logs: LogFields[] = [];
      const logger = createLogger("warn", (line) => logs.push(JSON.parse(line)));
      const clock = { now: () => AT + 2 * DAY };
      equal(await purgeOnce({ db, days: 1, metrics, logger, keyring, clock }), undefined);
      equal(metrics.get("session_audit_retention_failures_total"), 1);
      equal(metrics.get("session_audit_retention_purged_total"), 0);
      ok(logs.some((l) => l.msg === "retention purge failed; trying again at the next run"));
      equal(await count(db, "session_ends"), rows, "nothing deleted");
    });
  });
}

Deno.test("the unsigned checkpoints written before a key was configured are chained over", async () => {
  await withDb(async (db) => {
    await store(db, 10, AT);
    await writePeriodicCheckpoints(db, NO_KEYS, AT + 1);
    await store(db, 5, AT + 60_000);
    await writePeriodicCheckpoints(db, NO_KEYS, AT + 61_000);
    await store(db, 5, AT + 120_000);
    deepStrictEqual(await periodic(db, AT + 121_000), { written: [3], refused: [] });
  });
});

Deno.test("the checkpointer writes at once, then once per interval on its timers, and a last time when stopped", async () => {
  await withDb(async (db) => {
    await store(db, 10, AT);
    const timers = new FakeTimers(AT + 1_000);
    const stop = new AbortController();
    const rounds: number[][] = [];
    const running = runCheckpointer({
      db,
      keyring,
      intervalMs: 60_000,
      logger: createLogger("error", () => {}),
      onWritten: (written) => rounds.push(written.map((c) => c.seq)),
      clock: timers,
      timers,
    }, stop.signal);
    /** The checkpointer has armed its `n`th wait. */
    const waiting = (n: number) => waitFor(`wait ${n}`, () => timers.armed === n, 10_000, 5);

    await waiting(1);
    deepStrictEqual(rounds, [[10]], "a checkpoint at once");
    await store(db, 5, AT + 2_000);
    timers.advance(59_999);
    equal(timers.armed, 1, "the interval has not passed");
    timers.advance(1);
    await waiting(2);
    deepStrictEqual(rounds, [[10], [15]]);
    await store(db, 5, AT + 70_000);
    stop.abort();
    await running;
    deepStrictEqual(rounds, [[10], [15], [20]], "a last one once stopped");
    deepStrictEqual(
      (await readCheckpoints(db, T)).map((c) => c.createdAt),
      [AT + 1_000, AT + 61_000, AT + 61_000],
      "stamped by its clock",
    );
  });
});

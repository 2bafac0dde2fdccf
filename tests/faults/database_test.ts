/**
 * Fault 3: the database fails under the service — its files made read-only
 * (`chattr +i`: root ignores mode bits, not the immutable flag), or another
 * writer holding the write lock for 10 s. Messages are nak'd with a growing
 * delay, none is quarantined, `/readyz` says why, and every event is stored
 * once the database recovers.
 */
import { equal, ok } from "node:assert/strict";
import {
  countRows,
  holdWriteLock,
  publishAll,
  type Service,
  waitFor,
  type World,
  type WriteLock,
} from "../harness.ts";
import {
  assertExact,
  assertIntegrity,
  consumerSettled,
  FAULT_OPTS,
  report,
  rowsReach,
  startWorldService,
  tally,
  validEvents,
  withFaultWorld,
} from "./fault_kit.ts";

/** How long the database stays broken. */
const OUTAGE_MS = 10_000;

async function chattr(flag: "+i" | "-i", ...paths: string[]): Promise<boolean> {
  const out = await new Deno.Command("chattr", { args: [flag, ...paths], stderr: "null" })
    .output()
    .catch(() => undefined);
  return out?.success ?? false;
}

/** Whether this machine can make a file immutable (root, chattr, a file system with the flag). */
const canMakeImmutable = await (async () => {
  const dir = await Deno.makeTempDir();
  const probe = `${dir}/probe`;
  await Deno.writeTextFile(probe, "x");
  const immutable = await chattr("+i", probe);
  if (immutable) await chattr("-i", probe);
  await Deno.remove(dir, { recursive: true });
  return immutable;
})();

/** The failed-batch log lines of the service, parsed. */
function failedBatches(service: Service): Array<{ consecutive_failures: number; error: string }> {
  return service.logs
    .filter((l) => l.includes("batch not stored"))
    .map((l) => JSON.parse(l));
}

/**
 * Runs an outage: `breakDb` before the second wave of events, `repair` after
 * OUTAGE_MS; asserts the retry behaviour and the exact stored set.
 */
async function outage(
  world: World,
  name: string,
  breakDb: () => Promise<void>,
  repair: () => Promise<void>,
  reasonPattern: RegExp,
): Promise<void> {
  const first = validEvents(1_000);
  const during = validEvents(3_000);
  const service = await startWorldService(world, { NATS_ACK_WAIT_MS: "5000" });
  let repaired = false;
  try {
    await publishAll(world.t.js, first);
    await rowsReach(world.db, first.length, 60_000);
    await breakDb();
    const brokenAt = performance.now();
    await publishAll(world.t.js, during);
    const notReady = await waitFor("/readyz 503 naming the database", async () => {
      const r = await service.get("/readyz");
      const reasons = (r.body as { reasons?: Record<string, string> }).reasons;
      return r.status === 503 && reasons?.database ? reasons.database : undefined;
    }, OUTAGE_MS);
    ok(reasonPattern.test(notReady), `the reason says why: ${notReady}`);
    await new Promise((r) =>
      setTimeout(r, Math.max(0, OUTAGE_MS - (performance.now() - brokenAt)))
    );
    const failures = failedBatches(service);
    await repair();
    repaired = true;
    await rowsReach(world.db, first.length + during.length, 120_000);
    await consumerSettled(world.t);
    await waitFor("/readyz 200 again", async () => (await service.get("/readyz")).status === 200);

    // Retried with a growing pause, never quarantined.
    ok(failures.length >= 2, `several failed attempts: ${failures.length}`);
    ok(
      failures.length <= 12,
      `backs off rather than spinning: ${failures.length} attempts in ${OUTAGE_MS} ms`,
    );
    failures.forEach((f, i) => equal(f.consecutive_failures, i + 1));
    equal(await countRows(world.db, "dead_letters"), 0);
    equal(await service.metric("session_audit_events_total", 'outcome="quarantined"'), 0);
    const retried = await service.metric("session_audit_events_total", 'outcome="retried"');
    await assertIntegrity(world.db);
    const result = await tally(world.db, [...first, ...during].map((e) => e.payload.session_id));
    report(name, {
      ...result,
      outage_seconds: OUTAGE_MS / 1000,
      failed_batches: failures.length,
      first_error: failures[0]?.error,
      not_ready_reason: notReady,
      retried_messages: retried,
    });
    assertExact(result, name);
  } finally {
    if (!repaired) await repair().catch(() => {});
    await service.stop("SIGTERM");
  }
}

Deno.test({
  name: "a read-only database file (chattr +i) for 10 s: retried, none quarantined, all stored",
  ...FAULT_OPTS,
  ignore: !canMakeImmutable,
  fn: () =>
    withFaultWorld(async (world) => {
      // The database file and its WAL; not the -shm index, which SQLite maps into memory:
      // an immutable mapped file kills the process with SIGBUS (tried: it does).
      const files = [world.dbPath, `${world.dbPath}-wal`];
      try {
        await outage(
          world,
          "database read-only (chattr +i) for 10 s",
          async () => ok(await chattr("+i", ...files), "chattr +i"),
          async () => ok(await chattr("-i", ...files), "chattr -i"),
          /READONLY|IOERR|readonly|I\/O/,
        );
      } finally {
        await chattr("-i", ...files);
      }
    }),
});

Deno.test(
  "another writer holding the write lock for 10 s: retried, none quarantined, all stored",
  FAULT_OPTS,
  () =>
    withFaultWorld(async (world) => {
      let lock: WriteLock | undefined;
      try {
        await outage(
          world,
          "database write lock held for 10 s",
          async () => {
            lock = await holdWriteLock(world.dbPath);
          },
          async () => {
            await lock?.release();
          },
          /BUSY|locked/i,
        );
      } finally {
        await lock?.release();
      }
    }),
);

/**
 * The tamper-evident audit trail: chains verify when untouched — with
 * several tenants, restarts and two workers — and every kind of tampering
 * done through a raw SQLite connection is detected and named, by the API
 * and by `deno task verify`.
 */
import { equal, match, ok } from "node:assert/strict";
import { createApp } from "../src/api/app.ts";
import { loadConfig } from "../src/config.ts";
import { writePeriodicCheckpoints } from "../src/integrity/checkpoints.ts";
import { type Keyring, keyringOf } from "../src/integrity/keyring.ts";
import { hmacSigner } from "../src/integrity/signing.ts";
import { createLogger } from "../src/log.ts";
import { Metrics } from "../src/metrics.ts";
import { Readiness } from "../src/readiness.ts";
import { purgeWithCheckpoints } from "../src/retention.ts";
import { Database } from "../src/store/client.ts";
import { storeBatch } from "../src/store/commit.ts";
import { adminToken, get, SECRET, tenantToken } from "./api_fixture.ts";
import { Attacker } from "./integrity_attacker.ts";
import { arriving, copyDatabaseFile, tenantEvent, withDb } from "./store_fixture.ts";
import { countRows, publishAll, sessionEnd, startService, startWorld, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const SIGNING_KEY = "checkpoint-signing-key-0123456789-abcdef";
const TENANTS = [
  "aaaaaaaa-0000-4000-8000-00000000000a",
  "bbbbbbbb-0000-4000-8000-00000000000b",
  "cccccccc-0000-4000-8000-00000000000c",
];

const event = tenantEvent;

/** When {@linkcode fill} stores its first batch; each later batch a minute after. */
const FILLED_AT = Date.UTC(2026, 2, 12, 12);

/** Stores `perTenant` chained rows for each tenant, in batches of 50 a tenant. */
async function fill(db: Database, perTenant: number): Promise<void> {
  for (let batch = 0; batch < perTenant / 50; batch++) {
    const rows = [];
    for (let i = 0; i < 50; i++) {
      for (const tenant of TENANTS) {
        rows.push(arriving(event(tenant, batch * 50 + i), rows.length));
      }
    }
    await storeBatch(db, rows, [], FILLED_AT + batch * 60_000);
  }
}

/** Runs `deno task verify --json` on `path` (`--export` in `flags` for an NDJSON export). */
async function verifyCli(path: string, env: Record<string, string> = {}, flags: string[] = []) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../scripts/verify.ts", import.meta.url).pathname,
      "--json",
      ...flags,
      path,
    ],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  return { code: out.code, report: stdout ? JSON.parse(stdout) : undefined, stdout };
}

function appOver(db: Database, keyring?: Keyring) {
  const config = loadConfig({ API_JWT_SECRET: SECRET });
  return createApp({
    config,
    db,
    readiness: new Readiness(),
    metrics: new Metrics(),
    logger: createLogger("error"),
    keyring,
  });
}

/** A migrated database with `perTenant` rows for each tenant (see {@linkcode fill}). */
async function withFilled(
  body: (ctx: { db: Database; path: string }) => Promise<void>,
  perTenant = 1000,
): Promise<void> {
  await withDb(async (db, path) => {
    await fill(db, perTenant);
    await body({ db, path });
  });
}

Deno.test(
  "an untouched database of thousands of rows from several tenants verifies",
  opts,
  async () => {
    await withFilled(async ({ db, path }) => {
      const app = appOver(db);
      const admin = await (await get(app, "/v1/integrity", await adminToken())).json();
      equal(admin.ok, true);
      equal(admin.rows_checked, 3000);
      equal(admin.first_broken, null);
      const mine = await (await get(app, "/v1/integrity", await tenantToken(TENANTS[1]))).json();
      equal(mine.ok, true);
      equal(mine.rows_checked, 1000);
      equal(mine.tenant_id, TENANTS[1]);
      match(mine.head, /^[0-9a-f]{64}$/);
      const cli = await verifyCli(path);
      equal(cli.code, 0, cli.stdout);
      equal(cli.report.rows_checked, 3000);
      equal(
        cli.report.tenants.find((t: { tenant_id: string }) => t.tenant_id === TENANTS[1]).head,
        mine.head,
      );
    });
  },
);

Deno.test("a tenant cannot verify another tenant's chain", opts, async () => {
  await withFilled(async ({ db }) => {
    const res = await get(
      app(db),
      `/v1/integrity?tenant_id=${TENANTS[0]}`,
      await tenantToken(TENANTS[1]),
    );
    equal(res.status, 403);
  }, 50);
  function app(db: Database) {
    return appOver(db);
  }
});

const T0 = TENANTS[0];
const TAMPERING: Array<{ name: string; problem: string; move: (a: Attacker) => Promise<unknown> }> =
  [
    {
      name: "a changed field",
      problem: "altered",
      move: (a) => a.update(T0, 500, { duration_seconds: 1 }),
    },
    {
      name: "a deleted row",
      problem: "missing",
      move: (a) => a.deleteAt(T0, "chain_seq = 321"),
    },
    {
      name: "an inserted row",
      problem: "inserted",
      move: (a) => a.insertCopy(T0, 700, 700),
    },
    {
      // The walk reads 500 rows at a time: a second row at the last position of one read must
      // still be seen by the next.
      name: "a row inserted at a position where the walk's reads meet",
      problem: "inserted",
      move: (a) => a.insertCopy(T0, 500, 500),
    },
    {
      name: "two rows swapped",
      problem: "altered",
      move: async (a) => {
        const [x, y] = [await a.idAt(T0, 100), await a.idAt(T0, 200)];
        await a.sql("UPDATE session_ends SET chain_seq = 200 WHERE id = ?", x);
        await a.sql("UPDATE session_ends SET chain_seq = 100 WHERE id = ?", y);
      },
    },
    {
      name: "rows deleted at the end of the chain",
      problem: "missing",
      move: (a) => a.deleteAt(T0, "chain_seq > 990"),
    },
  ];

for (const t of TAMPERING) {
  Deno.test(`${t.name} is detected and named ${t.problem}`, opts, async () => {
    await withFilled(async ({ db, path }) => {
      await Attacker.with(path, t.move);
      const app = appOver(db);
      const body =
        await (await get(app, `/v1/integrity?tenant_id=${TENANTS[0]}`, await adminToken())).json();
      equal(body.ok, false);
      equal(body.first_broken.problem, t.problem, JSON.stringify(body.first_broken));
      const cli = await verifyCli(path);
      equal(cli.code, 1);
      equal(cli.report.first_broken.problem, t.problem);
      equal(cli.report.first_broken.tenant_id, TENANTS[0]);
      // The other tenants are untouched.
      for (const tenant of TENANTS.slice(1)) {
        const other = await (await get(app, "/v1/integrity", await tenantToken(tenant))).json();
        equal(other.ok, true, tenant);
      }
    });
  });
}

Deno.test(
  "a chain rewritten from the middle is caught by its signed checkpoint",
  opts,
  async () => {
    await withFilled(async ({ db, path }) => {
      const signer = keyringOf(await hmacSigner(SIGNING_KEY));
      equal((await writePeriodicCheckpoints(db, signer)).length, 3);
      // Rewrite: change row 10, then recompute every later hash so the chain alone is consistent.
      const head = await Attacker.with(path, async (a) => {
        await a.update(TENANTS[2], 10, { reason: "shutdown" });
        await a.cover(TENANTS[2], 10);
        return await a.head(TENANTS[2]);
      });

      const unsigned = await verifyCli(path);
      equal(unsigned.code, 1, "the checkpoint's hash is compared even without the key");
      const signed = await verifyCli(path, { AUDIT_SIGNING_KEY: SIGNING_KEY });
      equal(signed.code, 1);
      equal(signed.report.first_broken.tenant_id, TENANTS[2]);
      equal(signed.report.first_broken.problem, "altered");
      const body =
        await (await get(appOver(db, signer), "/v1/integrity", await tenantToken(TENANTS[2])))
          .json();
      equal(body.ok, false);

      // The checkpoints moved to the rewritten hashes: without the key nothing proves who wrote
      // them; with it, their signatures no longer match.
      await Attacker.with(
        path,
        (a) =>
          a.sql("UPDATE chain_checkpoints SET hash = ? WHERE tenant_id = ?", head.hash, TENANTS[2]),
      );
      equal((await verifyCli(path)).code, 0, "without a key an attacker rewrites checkpoints too");
      const again = await verifyCli(path, { AUDIT_SIGNING_KEY: SIGNING_KEY });
      equal(again.code, 1);
      equal(again.report.first_broken.problem, "forged");
    });
  },
);

Deno.test(
  "chains stay linear with two workers sharing one database, across a restart",
  opts,
  async () => {
    const world = await startWorld();
    /** Each tenant's head carries a signed checkpoint: the checkpointers (every second) caught up. */
    const allHeadsCheckpointed = async () => {
      const rs = await world.db.execute(
        `SELECT count(*) AS n FROM chain_heads h WHERE EXISTS (SELECT 1 FROM chain_checkpoints c
           WHERE c.tenant_id = h.tenant_id AND c.seq = h.seq AND c.algorithm = 'hmac-sha256')`,
      );
      return Number(rs.rows[0].n) === TENANTS.length;
    };
    try {
      const events = [];
      for (let i = 0; i < 3000; i++) {
        events.push({ payload: sessionEnd({ tenant_id: TENANTS[i % 3] }) });
      }
      await publishAll(world.t.js, events.slice(0, 1500));
      const env = {
        AUDIT_SIGNING_KEY: SIGNING_KEY,
        CHECKPOINT_INTERVAL_SECONDS: "1",
        NATS_ACK_WAIT_MS: "2000",
      };
      const a = await startService({
        natsUrl: world.nats.wsUrl,
        databasePath: world.dbPath,
        env: { ...env, INGEST_BATCH_SIZE: "50" },
      });
      const b = await startService({
        natsUrl: world.nats.wsUrl,
        databasePath: world.dbPath,
        env: { ...env, INGEST_BATCH_SIZE: "50" },
      });
      await waitFor(
        "some rows",
        async () => await countRows(world.db, "session_ends") > 300,
        30_000,
        20,
      );
      equal((await a.stop()).code, 0);
      const a2 = await startService({ natsUrl: world.nats.wsUrl, databasePath: world.dbPath, env });
      await publishAll(world.t.js, events.slice(1500));
      await waitFor(
        "3000 rows",
        async () => await countRows(world.db, "session_ends") === 3000,
        60_000,
        200,
      );
      await waitFor(
        "a signed checkpoint of every tenant's head",
        allHeadsCheckpointed,
        30_000,
        100,
      );
      equal((await b.stop()).code, 0);
      equal((await a2.stop()).code, 0);
      const cli = await verifyCli(world.dbPath, { AUDIT_SIGNING_KEY: SIGNING_KEY });
      equal(cli.code, 0, cli.stdout);
      equal(cli.report.rows_checked, 3000);
      ok(
        cli.report.tenants.every((t: { checkpoints_verified: number }) =>
          t.checkpoints_verified > 0
        ),
        cli.stdout,
      );
      const signed = await world.db.execute(
        "SELECT count(*) AS n FROM chain_checkpoints WHERE algorithm = 'hmac-sha256'",
      );
      ok(Number(signed.rows[0].n) >= 3);
    } finally {
      await world.close();
    }
  },
);

Deno.test("a retention purge followed by verification still passes", opts, async () => {
  await withFilled(async ({ db, path }) => {
    const keyring = keyringOf(await hmacSigner(SIGNING_KEY));
    // Batches of 50 rows a tenant are stored a minute apart: the first six are older.
    const cutoff = FILLED_AT + 6 * 60_000;
    const purged = await purgeWithCheckpoints(db, cutoff, { keyring, chunkSize: 128 });
    equal(purged.deleted, 900);
    equal((await writePeriodicCheckpoints(db, keyring)).length, 3);
    const cli = await verifyCli(path, { AUDIT_SIGNING_KEY: SIGNING_KEY });
    equal(cli.code, 0, cli.stdout);
    equal(cli.report.rows_checked, 2100);
    // Deleting one more row by hand after the purge is still caught.
    await Attacker.with(path, (a) => a.deleteAt(TENANTS[1], "chain_seq = 301"));
    const after = await verifyCli(path, { AUDIT_SIGNING_KEY: SIGNING_KEY });
    equal(after.code, 1);
    equal(after.report.first_broken.problem, "missing");
  });
});

Deno.test("an NDJSON export verifies offline, and an edited export does not", opts, async () => {
  await withFilled(async ({ db }) => {
    const app = appOver(db);
    const res = await get(
      app,
      "/v1/session-ends/export?format=ndjson",
      await tenantToken(TENANTS[0]),
    );
    equal(res.status, 200);
    const text = await res.text();
    const dir = await Deno.makeTempDir();
    try {
      const run = (content: string) => verifyExportText(dir, content);
      const intact = await run(text);
      equal(intact.code, 0);
      equal(intact.report.rows_checked, 1000);
      const online = await (await get(app, "/v1/integrity", await tenantToken(TENANTS[0]))).json();
      equal(intact.report.head, online.head, "the export's head is the database's head");

      const lines = text.trimEnd().split("\n");
      const edited = lines.map((line, i) =>
        i === 10 ? line.replace('"duration_seconds":900', '"duration_seconds":60') : line
      );
      const altered = await run(edited.join("\n") + "\n");
      equal(altered.code, 1);
      equal(altered.report.first_broken.problem, "altered");
      const missing = await run(lines.filter((_, i) => i !== 10).join("\n") + "\n");
      equal(missing.code, 1);
      equal(missing.report.first_broken.problem, "missing");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

/** Stores, for TENANTS[0], three sessions (`normal`), then an earlier event of each (`idle_timeout`). */
async function withCorrections(db: Database): Promise<string[]> {
  const sessions = [1, 2, 3].map((n) => event(TENANTS[0], 5_000 + n));
  await storeBatch(
    db,
    sessions.map((e, i) => arriving({ ...e, reason: "normal" }, 20_000 + i)),
    [],
    FILLED_AT + DAY_MS,
  );
  await storeBatch(
    db,
    sessions.map((e, i) => arriving({ ...e, reason: "idle_timeout" }, 10_000 + i)),
    [],
    FILLED_AT + DAY_MS + 1_000,
  );
  return sessions.map((e) => e.sessionId);
}

const DAY_MS = 86_400_000;

/** Runs `deno task verify --export` on `text`. */
async function verifyExportText(dir: string, text: string) {
  await Deno.writeTextFile(`${dir}/export.ndjson`, text);
  return await verifyCli(`${dir}/export.ndjson`, {}, ["--export"]);
}

/** The three verdicts on one database file: `/v1/integrity`, `deno task verify` and its export's. */
async function verdicts(path: string, dir: string) {
  const db = await Database.open({ databaseUrl: `file:${path}` });
  try {
    const app = appOver(db);
    const token = await tenantToken(TENANTS[0]);
    const online = await (await get(app, "/v1/integrity", token)).json();
    const cli = await verifyCli(path);
    const exported = await (await get(app, "/v1/session-ends/export?format=ndjson", token)).text();
    const offline = await verifyExportText(dir, exported);
    return { online, cli, offline, exported };
  } finally {
    db.close();
  }
}

Deno.test(
  "a chain with corrections verifies online, in a database file and in an export; tampering with a correction is found by each",
  opts,
  async (t) => {
    await withFilled(async ({ db, path }) => {
      const corrected = await withCorrections(db);
      const dir = await Deno.makeTempDir({ prefix: "session-audit-corrections-" });
      try {
        await t.step(
          "untouched: every verifier says ok, the export carries every version",
          async () => {
            const { online, cli, offline, exported } = await verdicts(path, dir);
            equal(online.ok, true, JSON.stringify(online.first_broken));
            equal(online.rows_checked, 56);
            equal(cli.code, 0, cli.stdout);
            equal(offline.code, 0, JSON.stringify(offline.report?.first_broken));
            equal(offline.report.rows_checked, 56);
            equal(offline.report.head, online.head);
            const items = exported.trimEnd().split("\n").map((l) => JSON.parse(l));
            const versions = items.filter((i) => corrected.includes(i.session_id));
            equal(
              versions.length,
              6,
              "each corrected session twice: the version replaced and its correction",
            );
            for (const item of versions) {
              if (item.reason === "normal") {
                ok(Number.isInteger(item.corrected_by), JSON.stringify(item));
              } else equal(item.corrected_by, null);
            }
          },
        );
        const cases: Array<[string, string, string, RegExp]> = [
          [
            "a correction's content changed",
            "UPDATE session_ends SET reason = 'normal' WHERE corrects IS NOT NULL AND session_id = ?",
            "altered",
            /chain hash/,
          ],
          [
            "a corrected version's mark cleared (both versions shown as current)",
            "UPDATE session_ends SET corrected_by = NULL WHERE corrected_by IS NOT NULL AND session_id = ?",
            "altered",
            /does not name it back/,
          ],
          [
            "a correction deleted",
            "DELETE FROM session_ends WHERE corrects IS NOT NULL AND session_id = ?",
            "",
            /./,
          ],
        ];
        for (const [name, sql, problem, detail] of cases) {
          await t.step(name, async () => {
            const copy = await copyDatabaseFile(
              path,
              `${dir}/${name.replaceAll(" ", "_").slice(0, 20)}.db`,
            );
            await Attacker.with(copy, (a) => a.sql(sql, corrected[1]));
            const { online, cli, offline } = await verdicts(copy, dir);
            for (
              const [who, verdict] of [
                ["/v1/integrity", online.first_broken],
                ["deno task verify", cli.report.first_broken],
                ["deno task verify --export", offline.report.first_broken],
              ] as const
            ) {
              ok(verdict, `${who} did not see it`);
              if (problem) {
                equal(verdict.problem, problem, who);
              }
              match(String(verdict.detail), detail, who);
            }
          });
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }, 50);
  },
);

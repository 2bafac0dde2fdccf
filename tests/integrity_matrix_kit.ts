/**
 * The adversarial matrix's fixture and verifiers: a database of two tenants
 * written as the service writes it (batches, a correction, periodic
 * checkpoints, optionally a retention purge, rows stored since the last
 * checkpoint), its independent copy, and the three verdicts on a tampered
 * copy of it: `/v1/integrity`, `deno task verify` on the database and
 * `deno task verify --export` on its export.
 *
 * @module
 */
import { checkpointJson, type CheckpointRecord } from "../src/integrity/checkpoint_record.ts";
import { readCheckpoints, writePeriodicCheckpoints } from "../src/integrity/checkpoints.ts";
import { type Keyring, keyringOf, NO_KEYS } from "../src/integrity/keyring.ts";
import { ed25519Signer, generateEd25519 } from "../src/integrity/signing.ts";
import type { CheckpointCopy } from "../src/integrity/verify.ts";
import { purgeWithCheckpoints } from "../src/retention.ts";
import { Database } from "../src/store/client.ts";
import { storeBatch } from "../src/store/commit.ts";
import { migrate } from "../src/store/migrations.ts";
import { runVerify } from "../scripts/verify.ts";
import { adminToken, get, makeApp } from "./api_fixture.ts";
import { arriving, copyDatabaseFile, tenantEvent } from "./store_fixture.ts";

/** The tenant every move targets. */
export const T = "aaaaaaaa-0000-4000-8000-00000000000a";
/** The other tenant. */
export const U = "bbbbbbbb-0000-4000-8000-00000000000b";
/** When the first batch is stored; each next one a minute later. */
export const BASE = Date.UTC(2026, 2, 12, 12);

/** How the service signed, and what the verifiers are given. */
export type Config = "none" | "copy" | "key" | "key+copy";
/** The four configurations, in the README's order. */
export const CONFIGS: readonly Config[] = ["none", "copy", "key", "key+copy"];

/** A built fixture: the database file, its copy, the keys. */
export interface Fixture {
  /** `ed25519` (the service signed) or `none`. */
  signing: "ed25519" | "none";
  purged: boolean;
  path: string;
  /** The checkpoints as published: the independent copy. */
  copy: CheckpointRecord[];
  copyFile: string;
  /** The service's keyring (signs) and the auditor's environment (the public key only). */
  keyring: Keyring;
  auditorEnv: Record<string, string>;
  /** A purged row of T as it was stored (purged fixture only), for a restore. */
  purgedRow?: Record<string, unknown>;
  dir: string;
}

/**
 * T: positions 1-50 in batches of 10, a checkpoint after each (at 10, 20,
 * 30, 40, 50); position 31 corrects 11 (an earlier event of its session);
 * then, purged, positions 1-10 purged (anchor at 10); then 51-55 stored
 * since the last checkpoint. U: 4 rows a batch, 2 after.
 */
export async function buildFixture(
  dir: string,
  signing: "ed25519" | "none",
  purged: boolean,
): Promise<Fixture> {
  const pair = signing === "ed25519" ? await generateEd25519() : undefined;
  const keyring = pair ? keyringOf(await ed25519Signer({ privateKey: pair.privateKey })) : NO_KEYS;
  const path = `${dir}/fixture.db`;
  const db = await Database.open({ databaseUrl: `file:${path}` });
  let purgedRow: Record<string, unknown> | undefined;
  try {
    await migrate(db.client);
    let streamSeq = 1_000;
    const corrected = { ...tenantEvent(T, 11), reason: "normal" };
    const batch = async (b: number, perT: number, perU: number) => {
      const rows = [];
      for (let i = 1; i <= perT; i++) {
        const n = b * 10 + i;
        // Position 11's session, and the first of batch 3 an earlier event of it: a correction.
        const event = n === 11 ? corrected : tenantEvent(T, n);
        rows.push(
          b === 3 && i === 1
            ? arriving({ ...corrected, reason: "idle_timeout" }, 5)
            : arriving(event, streamSeq++),
        );
      }
      for (let i = 1; i <= perU; i++) rows.push(arriving(tenantEvent(U, b * 10 + i), streamSeq++));
      await storeBatch(db, rows, [], BASE + b * 60_000);
    };
    for (let b = 0; b < 5; b++) {
      await batch(b, 10, 4);
      await writePeriodicCheckpoints(db, keyring, BASE + b * 60_000 + 30_000);
    }
    if (purged) {
      purgedRow = (await db.execute({
        sql: "SELECT * FROM session_ends WHERE tenant_id = ? AND chain_seq = 5",
        args: [T],
      })).rows[0] as unknown as Record<string, unknown>;
      await purgeWithCheckpoints(db, BASE + 30_000, {
        keyring,
        clock: { now: () => BASE + 300_000 },
      });
    }
    await batch(5, 5, 2);
    const copy = [...await readCheckpoints(db, T), ...await readCheckpoints(db, U)];
    const copyFile = `${dir}/copy.ndjson`;
    await Deno.writeTextFile(
      copyFile,
      copy.map((c) => JSON.stringify(checkpointJson(c)) + "\n").join(""),
    );
    return {
      signing,
      purged,
      path,
      copy,
      copyFile,
      keyring,
      auditorEnv: pair ? { AUDIT_SIGNING_ED25519_PUBLIC_KEY: pair.publicKey } : {},
      purgedRow,
      dir,
    };
  } finally {
    db.close();
  }
}

/** A fresh copy of the fixture's database file, to tamper with. */
export function copyDatabase(fixture: Fixture, name: string): Promise<string> {
  return copyDatabaseFile(fixture.path, `${fixture.dir}/${name}.db`);
}

/** A verdict: `ok`, or the first break as `problem@position`. */
export type Outcome = string;

function outcomeOf(broken: { problem: string; chain_seq: number } | null | undefined): Outcome {
  return broken ? `${broken.problem}@${broken.chain_seq}` : "ok";
}

/** The copy held in memory, as the service reads it from its stream. */
function memoryCopy(checkpoints: readonly CheckpointRecord[]): CheckpointCopy {
  return {
    read: (tenantId) => Promise.resolve(checkpoints.filter((c) => c.tenantId === tenantId)),
    tenants: () => Promise.resolve([...new Set(checkpoints.map((c) => c.tenantId))]),
  };
}

/** Runs `deno task verify` in this process; returns the JSON report for T's first break. */
async function cli(args: string[], env: Record<string, string>): Promise<Outcome> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runVerify(["--json", ...args], {
    env,
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
  });
  if (code === 2) throw new Error(`verify could not run: ${err.join("\n")}`);
  const report = JSON.parse(out.join("\n"));
  const mine = report.tenants.find((t: { tenant_id: string }) => t.tenant_id === T);
  const outcome = outcomeOf(mine?.first_broken);
  if ((code === 0) !== (outcome === "ok")) throw new Error(`exit ${code} for ${outcome}`);
  return outcome;
}

/** The three verdicts on a tampered database, for T. */
export interface Verdicts {
  online: Outcome;
  database: Outcome;
  exported: Outcome;
}

/**
 * The three verdicts in one configuration. `editExport` changes the export
 * before it is verified (an export edited after it was made).
 */
export async function verdicts(
  fixture: Fixture,
  path: string,
  config: Config,
  editExport?: (text: string) => string,
): Promise<Verdicts> {
  const withCopy = config === "copy" || config === "key+copy";
  const copyArgs = withCopy ? ["--copy", fixture.copyFile] : [];
  const db = await Database.open({ databaseUrl: `file:${path}` });
  try {
    const { app } = makeApp(db, {}, () => ({
      keyring: fixture.keyring,
      checkpointCopy: withCopy ? memoryCopy(fixture.copy) : undefined,
    }));
    const token = await adminToken();
    const online = await (await get(app, `/v1/integrity?tenant_id=${T}`, token)).json();
    const exported = await (await get(
      app,
      `/v1/session-ends/export?format=ndjson&tenant_id=${T}`,
      token,
    )).text();
    const exportFile = `${path}.ndjson`;
    await Deno.writeTextFile(exportFile, editExport ? editExport(exported) : exported);
    return {
      online: outcomeOf(online.first_broken),
      database: await cli(["--tenant", T, path, ...copyArgs], fixture.auditorEnv),
      exported: await cli(["--export", exportFile, ...copyArgs], fixture.auditorEnv),
    };
  } finally {
    db.close();
  }
}

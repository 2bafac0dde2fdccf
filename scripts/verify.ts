/**
 * `deno task verify`: proves offline that a database, or an NDJSON export,
 * holds unbroken hash chains, against the independent copy of the
 * checkpoints when one is given (a NATS server, or a file dumped from it or
 * taken from the logs); `--dump-copy` writes that copy to a file. Exit 0
 * when intact, 1 when broken (or unverifiable), 2 on a usage or access error.
 *
 * @module
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { wsconnect } from "@nats-io/nats-core";
import { loadConfig } from "../src/config.ts";
import { ConfigError } from "../src/config_error.ts";
import { parseSigning } from "../src/config_integrity.ts";
import {
  checkpointJson,
  type CheckpointRecord,
  parseCheckpointJson,
} from "../src/integrity/checkpoint_record.ts";
import { keyringFrom } from "../src/integrity/keyring.ts";
import {
  type CheckpointCopy,
  type IntegrityReport,
  verifyTenants,
} from "../src/integrity/verify.ts";
import {
  ExportFormatError,
  parseExport,
  verifyExportRows,
} from "../src/integrity/verify_export.ts";
import { DEFAULT_CHECKPOINT_STREAM, readCheckpointStream } from "../src/nats/checkpoint_stream.ts";
import { connectionOptions } from "../src/nats/connect.ts";
import { Database } from "../src/store/client.ts";

/** The usage text. */
export const USAGE = `usage:
  deno task verify [--tenant UUID ...] [--copy SOURCE] [--json] <database: file:path, path or libsql:// URL>
  deno task verify --export FILE.ndjson [--copy SOURCE] [--anchor TENANT:SEQ:HASH ...] [--json]
  deno task verify --dump-copy NATS_URL > copy.ndjson

SOURCE, the independent copy of the checkpoints: a NATS server (ws://, wss://, nats://, tls://),
whose stream CHECKPOINT_STREAM (default ${DEFAULT_CHECKPOINT_STREAM}) is read, or a file of
checkpoints, one JSON object a line (written by --dump-copy, or the service's log).

Environment: DATABASE_ENCRYPTION_KEY (encrypted file), DATABASE_AUTH_TOKEN (remote);
AUDIT_SIGNING_KEY or AUDIT_SIGNING_ED25519_PUBLIC_KEY, AUDIT_SIGNING_PREVIOUS_KEYS,
AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS (to check checkpoint signatures);
NATS_TOKEN, NATS_USER, NATS_PASSWORD, NATS_CREDS_FILE, CHECKPOINT_STREAM (a NATS copy).`;

/** Where {@linkcode runVerify} reads its environment and writes. */
export interface VerifyIo {
  env: Record<string, string | undefined>;
  stdout(line: string): void;
  stderr(line: string): void;
}

/** A usage or access error: exit 2. */
class Unusable extends Error {}

function flagValues(args: string[], flag: string): string[] {
  const values: string[] = [];
  args.forEach((arg, i) => {
    if (arg === flag && i + 1 < args.length) values.push(args[i + 1]);
  });
  return values;
}

const NATS_URL = /^(?:wss?|nats|tls):\/\//;

/** Checkpoints of a file: one JSON object a line, a checkpoint or a log line carrying one. */
export function parseCopyFile(text: string): CheckpointRecord[] {
  const found: CheckpointRecord[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      continue; // not JSON: a line of some other log
    }
    const inner = typeof json === "object" && json !== null && "checkpoint" in json
      ? (json as { checkpoint: unknown }).checkpoint
      : json;
    const parsed = parseCheckpointJson(inner);
    if (parsed.ok) found.push(parsed.checkpoint);
  }
  return found;
}

/** Every checkpoint of the NATS copy at `url`. */
async function readNatsCopy(url: string, env: VerifyIo["env"]): Promise<CheckpointRecord[]> {
  const natsEnv: Record<string, string | undefined> = { NATS_URL: url };
  for (const name of ["NATS_TOKEN", "NATS_USER", "NATS_PASSWORD", "NATS_CREDS_FILE"]) {
    natsEnv[name] = env[name];
  }
  let config;
  try {
    config = loadConfig(natsEnv);
  } catch (err) {
    throw new Unusable((err as Error).message);
  }
  const stream = env.CHECKPOINT_STREAM?.trim() || DEFAULT_CHECKPOINT_STREAM;
  // One try, not the service's patience: an auditor wants an answer.
  const options = {
    ...await connectionOptions(config),
    waitOnFirstConnect: false,
    maxReconnectAttempts: 0,
  };
  const connecting = config.natsTransport === "websocket"
    ? wsconnect(options)
    : import("@nats-io/transport-node").then(({ connect }) => connect(options));
  const nc = await connecting.catch((err) => {
    throw new Unusable(`cannot connect to ${url}: ${(err as Error).message}`);
  });
  try {
    const jsm = await jetstreamManager(nc);
    return await readCheckpointStream(jetstream(nc), jsm, stream).catch((err) => {
      throw new Unusable(`cannot read the stream ${stream}: ${(err as Error).message}`);
    });
  } finally {
    await nc.close();
  }
}

/** The copy named by `--copy`, every tenant's checkpoints. */
async function readCopy(source: string, env: VerifyIo["env"]): Promise<CheckpointRecord[]> {
  if (NATS_URL.test(source)) return await readNatsCopy(source, env);
  let text: string;
  try {
    text = await Deno.readTextFile(source);
  } catch (err) {
    throw new Unusable(`cannot read ${source}: ${(err as Error).message}`);
  }
  const found = parseCopyFile(text);
  if (found.length === 0) throw new Unusable(`${source} holds no checkpoint`);
  return found;
}

/** A copy held in memory, as the database verifier reads it. */
function copyOf(checkpoints: readonly CheckpointRecord[]): CheckpointCopy {
  return {
    read: (tenantId) => Promise.resolve(checkpoints.filter((c) => c.tenantId === tenantId)),
    tenants: () => Promise.resolve([...new Set(checkpoints.map((c) => c.tenantId))]),
  };
}

async function verifyDatabase(
  target: string,
  args: string[],
  io: VerifyIo,
  copy: CheckpointRecord[] | undefined,
  keyring: Awaited<ReturnType<typeof keyringFrom>>,
): Promise<IntegrityReport> {
  const databaseUrl = /^[a-z]+:/.test(target) ? target : `file:${target}`;
  if (databaseUrl.startsWith("file:")) {
    try {
      await Deno.stat(databaseUrl.slice("file:".length));
    } catch {
      throw new Unusable(`${target} does not exist`);
    }
  }
  let db: Database;
  try {
    db = await Database.open({
      databaseUrl,
      databaseAuthToken: io.env.DATABASE_AUTH_TOKEN || undefined,
      databaseEncryptionKey: io.env.DATABASE_ENCRYPTION_KEY || undefined,
    });
  } catch (err) {
    throw new Unusable(`cannot open ${target}: ${(err as Error).message}`);
  }
  try {
    const tenants = flagValues(args, "--tenant").map((t) => t.toLowerCase());
    return await verifyTenants(db, keyring, {
      tenants: tenants.length ? tenants : undefined,
      copy: copy && copyOf(copy),
    });
  } finally {
    db.close();
  }
}

function anchorsOf(args: string[]): Map<string, { seq: number; hash: string }> {
  const anchors = new Map<string, { seq: number; hash: string }>();
  for (const anchor of flagValues(args, "--anchor")) {
    const [tenant, seq, hash] = anchor.split(":");
    if (!tenant || !/^\d+$/.test(seq ?? "") || !/^[0-9a-f]{64}$/.test(hash ?? "")) {
      throw new Unusable(`--anchor must be TENANT:SEQ:HASH, got ${anchor}`);
    }
    anchors.set(tenant.toLowerCase(), { seq: Number(seq), hash });
  }
  return anchors;
}

function print(report: IntegrityReport, io: VerifyIo): void {
  for (const t of report.tenants) {
    const b = t.first_broken;
    const verdict = t.ok
      ? "ok"
      : `${
        b?.problem === "unverifiable" ? "UNVERIFIABLE" : "BROKEN"
      } at chain position ${b?.chain_seq}: ${b?.problem} (${b?.detail}; session ${
        b?.session_id ?? "-"
      })`;
    io.stdout(
      `${t.tenant_id}  rows ${t.rows_checked}  head ${t.head_seq}:${t.head}  checkpoints ${t.checkpoints_verified}  vouched up to ${t.checkpoint_seq}  ${verdict}`,
    );
  }
  io.stdout(
    `${
      report.ok ? "OK" : "BROKEN"
    }: ${report.rows_checked} rows in ${report.tenants.length} tenant(s), head ${report.head}`,
  );
}

/** Runs the command; resolves to its exit code. */
export async function runVerify(args: string[], io: VerifyIo): Promise<number> {
  if (args.includes("--help") || args.length === 0) {
    io.stderr(USAGE);
    return args.includes("--help") ? 0 : 2;
  }
  try {
    const dump = flagValues(args, "--dump-copy")[0];
    if (dump !== undefined) {
      if (!NATS_URL.test(dump)) throw new Unusable(`--dump-copy needs a NATS URL, got ${dump}`);
      for (const c of await readNatsCopy(dump, io.env)) {
        io.stdout(JSON.stringify(checkpointJson(c)));
      }
      return 0;
    }
    let keyring;
    try {
      keyring = await keyringFrom(parseSigning(io.env, false));
    } catch (err) {
      if (err instanceof ConfigError) throw new Unusable(err.message);
      throw err;
    }
    const copySource = flagValues(args, "--copy")[0];
    const copy = copySource === undefined ? undefined : await readCopy(copySource, io.env);
    const valued = new Set(["--tenant", "--export", "--anchor", "--copy"]);
    const positional = args.filter((a, i) => !a.startsWith("--") && !valued.has(args[i - 1]));
    const exportFile = flagValues(args, "--export")[0];
    let report: IntegrityReport;
    if (exportFile) {
      let text: string;
      try {
        text = await Deno.readTextFile(exportFile);
      } catch (err) {
        throw new Unusable(`cannot read ${exportFile}: ${(err as Error).message}`);
      }
      try {
        report = await verifyExportRows(parseExport(text), {
          anchors: anchorsOf(args),
          checkpoints: copy,
          keyring,
        });
      } catch (err) {
        if (!(err instanceof ExportFormatError)) throw err;
        io.stderr(`verify: ${exportFile}: ${err.message}`);
        return 1;
      }
    } else {
      if (positional.length !== 1) throw new Unusable(USAGE);
      report = await verifyDatabase(positional[0], args, io, copy, keyring);
    }
    if (keyring.keys.length === 0) {
      io.stderr("verify: no signing key given: checkpoint signatures not checked");
    }
    if (!copy) io.stderr("verify: no independent copy given (--copy): a cut tail is not seen");
    if (args.includes("--json")) io.stdout(JSON.stringify(report, null, 2));
    else print(report, io);
    return report.ok ? 0 : 1;
  } catch (err) {
    if (!(err instanceof Unusable)) throw err;
    io.stderr(`verify: ${err.message}`);
    return 2;
  }
}

if (import.meta.main) {
  Deno.exit(
    await runVerify(Deno.args, {
      env: Deno.env.toObject(),
      stdout: (line) => console.log(line),
      stderr: (line) => console.error(line),
    }),
  );
}

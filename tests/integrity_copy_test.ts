/**
 * The independent copy of the checkpoints, against a real nats-server: the
 * service publishes each checkpoint to its own stream (and logs it); a
 * chain cut short, rewound and stripped of its checkpoints — invisible in
 * the database alone — is reported against that copy by `/v1/integrity`,
 * by the self-check's metric, and by `deno task verify --copy` reading the
 * stream, a dump of it, or the log. A checkpoint the copy cannot take is
 * counted, kept, and published once it can, while ingest goes on.
 */
import { equal, match, ok } from "node:assert/strict";
import { parseCheckpointJson } from "../src/integrity/checkpoint_record.ts";
import { generateEd25519 } from "../src/integrity/signing.ts";
import { latestCheckpoint, readCheckpointStream } from "../src/nats/checkpoint_stream.ts";
import { Attacker } from "./integrity_attacker.ts";
import {
  countRows,
  publishAll,
  type Service,
  sessionEnd,
  startService,
  TEST_JWT_SECRET,
  waitFor,
  withWorld,
} from "./harness.ts";
import { mintToken } from "../src/api/token.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const TENANT = "11111111-1111-4111-8111-111111111111";
const STREAM = "SESSION_AUDIT_CHECKPOINTS";

/** `deno task verify` as an auditor runs it, in a process of its own. */
async function verifyTask(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../scripts/verify.ts", import.meta.url).pathname, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

async function adminGet(service: Service, path: string) {
  const token = await mintToken({ secret: TEST_JWT_SECRET, admin: true, ttlSeconds: 600 });
  return await service.get(path, { Authorization: `Bearer ${token}` });
}

Deno.test(
  "a chain cut short, rewound and stripped of its checkpoints is caught against the independent copy: /v1/integrity, the self-check, deno task verify on the stream, on its dump and on the log",
  opts,
  () =>
    withWorld(async (world) => {
      const keys = await generateEd25519();
      const env = {
        AUDIT_SIGNING_ED25519_PRIVATE_KEY: keys.privateKey,
        CHECKPOINT_INTERVAL_SECONDS: "1",
      };
      const auditor = { AUDIT_SIGNING_ED25519_PUBLIC_KEY: keys.publicKey };
      const service = await startService({
        natsUrl: world.nats.wsUrl,
        databasePath: world.dbPath,
        env,
      });
      const published = async (seq: number) =>
        (await latestCheckpoint(world.t.jsm, STREAM, TENANT).catch(() => undefined))?.seq === seq;
      for (const total of [30, 60]) {
        await publishAll(world.t.js, Array.from({ length: 30 }, () => ({ payload: sessionEnd() })));
        await waitFor(
          `${total} rows`,
          async () => await countRows(world.db, "session_ends") === total,
        );
        await waitFor(`the checkpoint of position ${total} in the copy`, () => published(total));
      }
      ok(await service.metric("session_audit_checkpoints_published_total") >= 2);
      equal(await service.metric("session_audit_checkpoint_publish_failures_total"), 0);
      equal((await service.stop()).code, 0);

      // What the copy holds: signed checkpoints, each under its tenant's subject.
      const copy = await readCheckpointStream(world.t.js, world.t.jsm, STREAM);
      ok(copy.length >= 2);
      ok(copy.every((c) => c.tenantId === TENANT && c.algorithm === "ed25519"));
      const info = await world.t.jsm.streams.info(STREAM);
      equal(info.config.deny_delete, true);
      equal(info.config.deny_purge, true);
      equal(info.config.max_age, 0);
      // The log holds them too, one JSON line each.
      const logged = service.logs.flatMap((line) => {
        try {
          const parsed = parseCheckpointJson(JSON.parse(line).checkpoint);
          return parsed.ok ? [parsed.checkpoint] : [];
        } catch {
          return [];
        }
      });
      ok(logged.some((c) => c.seq === 60), "the checkpoint of position 60 is logged");

      // The attack: rows after 40 deleted, the head rewound, the checkpoints above 40 deleted.
      await Attacker.with(world.dbPath, (a) => a.truncate(TENANT, 40));

      // The database alone looks intact.
      const alone = await verifyTask(["--json", world.dbPath], auditor);
      equal(alone.code, 0, alone.stdout + alone.stderr);
      match(alone.stderr, /no independent copy/);

      // Against the stream.
      const stream = await verifyTask(
        ["--json", "--copy", world.nats.wsUrl, world.dbPath],
        auditor,
      );
      equal(stream.code, 1, stream.stderr);
      const broken = JSON.parse(stream.stdout).first_broken;
      equal(broken.problem, "missing");
      equal(broken.chain_seq, 41);
      // Against a dump of it, over plain TCP this time.
      const dump = await verifyTask(["--dump-copy", world.nats.natsUrl], {});
      equal(dump.code, 0, dump.stderr);
      equal(dump.stdout.trim().split("\n").length, copy.length);
      await Deno.writeTextFile(`${world.dir}/copy.ndjson`, dump.stdout);
      const dumped = await verifyTask(
        ["--json", "--copy", `${world.dir}/copy.ndjson`, world.dbPath],
        auditor,
      );
      equal(dumped.code, 1);
      equal(JSON.parse(dumped.stdout).first_broken.chain_seq, 41);
      // Against the service's log.
      await Deno.writeTextFile(`${world.dir}/service.log`, service.logs.join("\n"));
      const fromLog = await verifyTask(
        ["--json", "--copy", `${world.dir}/service.log`, world.dbPath],
        auditor,
      );
      equal(fromLog.code, 1);
      equal(JSON.parse(fromLog.stdout).first_broken.chain_seq, 41);

      // The service, connected to NATS, reads the copy: /v1/integrity and the self-check see it.
      const again = await startService({
        natsUrl: world.nats.wsUrl,
        databasePath: world.dbPath,
        env: { ...env, INTEGRITY_CHECK_INTERVAL_SECONDS: "1" },
      });
      try {
        const answer = await waitFor("/v1/integrity with the copy", async () => {
          const res = await adminGet(again, `/v1/integrity?tenant_id=${TENANT}`);
          const body = res.body as {
            copy_checked: boolean;
            ok: boolean;
            first_broken: { chain_seq: number };
          };
          return body.copy_checked ? body : undefined;
        });
        const integrity = answer;
        equal(integrity.ok, false);
        equal(integrity.first_broken.chain_seq, 41);
        await waitFor(
          "session_audit_integrity_broken_tenants = 1",
          async () => await again.metric("session_audit_integrity_broken_tenants") === 1,
        );
        ok(await again.metric("session_audit_integrity_checks_total") >= 1);
        ok(
          again.logs.some((l) => l.includes("integrity self-check: chain broken")),
          "the broken chain is logged",
        );
      } finally {
        equal((await again.stop()).code, 0);
      }
    }),
);

Deno.test(
  "a checkpoint the copy cannot take is counted and kept; it is published once the copy takes it, and ingest never waits",
  opts,
  () =>
    withWorld(async (world) => {
      // A stream of that name that does not listen on the checkpoints' subjects: publishing fails.
      await world.t.jsm.streams.add({ name: STREAM, subjects: ["elsewhere.>"] });
      const service = await startService({
        natsUrl: world.nats.wsUrl,
        databasePath: world.dbPath,
        env: {
          AUDIT_SIGNING_KEY: "checkpoint-signing-key-0123456789-abcdef",
          CHECKPOINT_INTERVAL_SECONDS: "1",
        },
      });
      try {
        await publishAll(world.t.js, Array.from({ length: 20 }, () => ({ payload: sessionEnd() })));
        await waitFor("20 rows", async () => await countRows(world.db, "session_ends") === 20);
        await waitFor(
          "a failed publish counted",
          async () => await service.metric("session_audit_checkpoint_publish_failures_total") > 0,
        );
        // Ingest goes on meanwhile.
        await publishAll(world.t.js, Array.from({ length: 20 }, () => ({ payload: sessionEnd() })));
        await waitFor("40 rows", async () => await countRows(world.db, "session_ends") === 40);
        const rs = await world.db.execute("SELECT count(*) AS n FROM chain_checkpoints");
        ok(Number(rs.rows[0].n) >= 1, "the checkpoints are in the database");

        // The copy takes the subjects now: what waited is published.
        await world.t.jsm.streams.update(STREAM, { subjects: ["session_audit.checkpoint.>"] });
        await waitFor(
          "the checkpoint of position 40 in the copy",
          async () =>
            (await latestCheckpoint(world.t.jsm, STREAM, TENANT).catch(() => undefined))?.seq ===
              40,
          30_000,
        );
        const copy = await readCheckpointStream(world.t.js, world.t.jsm, STREAM);
        const ordinals = copy.map((c) => c.ordinal);
        equal(ordinals.join(","), ordinals.map((_, i) => i + 1).join(","), "every one, in order");
      } finally {
        equal((await service.stop()).code, 0);
      }
    }),
);

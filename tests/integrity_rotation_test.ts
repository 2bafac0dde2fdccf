/**
 * Key rotation: a new key signs from the rotation on; checkpoints signed
 * before still verify under the previous keys listed in the configuration
 * (found by the key id each carries); without them they are reported
 * unverifiable, not forged. For HMAC secrets and Ed25519 key pairs, by
 * `/v1/integrity` (the service's keyring) and by `deno task verify` (the
 * auditor's environment: public keys only for Ed25519).
 */
import { equal, match, ok } from "node:assert/strict";
import { readCheckpoints, writePeriodicCheckpoints } from "../src/integrity/checkpoints.ts";
import { type Keyring, keyringFrom } from "../src/integrity/keyring.ts";
import { generateEd25519 } from "../src/integrity/signing.ts";
import { Database } from "../src/store/client.ts";
import { storeBatch } from "../src/store/commit.ts";
import { migrate } from "../src/store/migrations.ts";
import { runVerify } from "../scripts/verify.ts";
import { adminToken, get, makeApp } from "./api_fixture.ts";
import { Attacker } from "./integrity_attacker.ts";
import { incoming, TENANT } from "./store_fixture.ts";

const OLD_SECRET = "the-secret-before-the-rotation-0123456789";
const NEW_SECRET = "the-secret-after-the-rotation-9876543210";

/** `deno task verify --json` on `path` with `env`: exit code and the tenant's first break. */
async function verifyCli(path: string, env: Record<string, string>) {
  const out: string[] = [];
  const code = await runVerify(["--json", path], {
    env,
    stdout: (line) => out.push(line),
    stderr: () => {},
  });
  const report = JSON.parse(out.join("\n"));
  return { code, broken: report.first_broken, tenants: report.tenants };
}

/** `/v1/integrity` of the tenant with `keyring`. */
async function online(db: Database, keyring: Keyring) {
  const { app } = makeApp(db, {}, () => ({ keyring }));
  return await (await get(app, `/v1/integrity?tenant_id=${TENANT}`, await adminToken())).json();
}

/**
 * A database whose first checkpoints were signed with `before`, and the
 * later ones, after the rotation, with `after` (which lists `before` as a previous key).
 */
async function rotated(dir: string, before: Keyring, after: Keyring): Promise<Database> {
  const db = await Database.open({ databaseUrl: `file:${dir}/audit.db` });
  await migrate(db.client);
  for (let n = 1; n <= 6; n++) {
    await storeBatch(db, [incoming(n)], [], Date.UTC(2026, 2, 12) + n * 1000);
    await writePeriodicCheckpoints(db, n <= 3 ? before : after, Date.UTC(2026, 2, 12) + n * 1000);
  }
  return db;
}

for (
  const kind of [
    {
      name: "HMAC",
      keys: () =>
        Promise.resolve({
          before: { AUDIT_SIGNING_KEY: OLD_SECRET },
          after: { AUDIT_SIGNING_KEY: NEW_SECRET, AUDIT_SIGNING_PREVIOUS_KEYS: OLD_SECRET },
          auditor: { AUDIT_SIGNING_KEY: NEW_SECRET, AUDIT_SIGNING_PREVIOUS_KEYS: OLD_SECRET },
          auditorWithoutPrevious: { AUDIT_SIGNING_KEY: NEW_SECRET },
        }),
    },
    {
      name: "Ed25519",
      keys: async () => {
        const [old, fresh] = [await generateEd25519(), await generateEd25519()];
        return {
          before: { AUDIT_SIGNING_ED25519_PRIVATE_KEY: old.privateKey },
          after: {
            AUDIT_SIGNING_ED25519_PRIVATE_KEY: fresh.privateKey,
            AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS: old.publicKey,
          },
          // The auditor holds public keys only.
          auditor: {
            AUDIT_SIGNING_ED25519_PUBLIC_KEY: fresh.publicKey,
            AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS: old.publicKey,
          },
          auditorWithoutPrevious: { AUDIT_SIGNING_ED25519_PUBLIC_KEY: fresh.publicKey },
        };
      },
    },
  ]
) {
  Deno.test(
    `${kind.name} key rotation: the new key signs from then on, earlier checkpoints verify under the previous key, and without it are unverifiable, not forged`,
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "session-audit-rotation-" });
      const env = await kind.keys();
      const keyring = async (e: Record<string, string>) =>
        await keyringFrom({
          hmacKey: e.AUDIT_SIGNING_KEY,
          ed25519PrivateKey: e.AUDIT_SIGNING_ED25519_PRIVATE_KEY,
          ed25519PublicKey: e.AUDIT_SIGNING_ED25519_PUBLIC_KEY,
          hmacPreviousKeys: e.AUDIT_SIGNING_PREVIOUS_KEYS?.split(","),
          ed25519PreviousPublicKeys: e.AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS?.split(","),
        });
      const before = await keyring(env.before);
      const after = await keyring(env.after);
      const db = await rotated(dir, before, after);
      try {
        const checkpoints = await readCheckpoints(db, TENANT);
        equal(checkpoints.length, 6);
        const oldId = before.signer?.keyId as string;
        const newId = after.signer?.keyId as string;
        ok(oldId !== newId);
        equal(
          checkpoints.map((c) => c.keyId).join(","),
          [oldId, oldId, oldId, newId, newId, newId].join(","),
          "each checkpoint names the key that signed it",
        );

        const service = await online(db, after);
        equal(service.ok, true, JSON.stringify(service.first_broken));
        equal(service.checkpoints_verified, 6);
        equal(service.checkpoint_seq, 6);

        const auditor = await verifyCli(`${dir}/audit.db`, env.auditor);
        equal(auditor.code, 0, JSON.stringify(auditor.broken));
        equal(auditor.tenants[0].checkpoints_verified, 6);

        // Without the previous key: the old checkpoints cannot be checked, which is not forgery.
        const partial = await verifyCli(`${dir}/audit.db`, env.auditorWithoutPrevious);
        equal(partial.code, 1);
        equal(partial.broken.problem, "unverifiable");
        equal(partial.broken.chain_seq, 1);
        match(partial.broken.detail, new RegExp(`key ${oldId} .*not configured`));
        const withoutPrevious = await online(db, await keyring(env.auditorWithoutPrevious));
        equal(withoutPrevious.first_broken.problem, "unverifiable");

        // With only the old key, the new checkpoints are the unverifiable ones.
        const oldOnly = await online(db, before);
        equal(oldOnly.first_broken.problem, "unverifiable");
        equal(oldOnly.first_broken.chain_seq, 4);

        // A checkpoint of the old key whose signature is not its own is forged, not unverifiable.
        await Attacker.with(
          `${dir}/audit.db`,
          (a) => a.updateCheckpoint(TENANT, 2, { signature: checkpoints[0].signature }),
        );
        const forged = await verifyCli(`${dir}/audit.db`, env.auditor);
        equal(forged.code, 1);
        equal(forged.broken.problem, "forged");
        equal(forged.broken.chain_seq, 2);
      } finally {
        db.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

Deno.test("a signing key that cannot be imported stops start-up: exit 2, one line naming the variable", async () => {
  for (
    const [variable, value] of [
      ["AUDIT_SIGNING_ED25519_PRIVATE_KEY", btoa("not a PKCS#8 key at all")],
      ["AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS", "short"],
    ]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../src/main.ts", import.meta.url).pathname],
      env: { PORT: "0", NATS_URL: "ws://127.0.0.1:1", [variable]: value },
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    equal(out.code, 2, stderr);
    equal(stderr.split("\n").length, 1, stderr);
    match(stderr, new RegExp(`^session-audit: configuration error: ${variable}: `));
  }
});

import { deepStrictEqual, equal } from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { rejects } from "./testing/config_errors.ts";

const PUBLIC_KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));

Deno.test("tamper evidence defaults: the copy's stream, no self-check, no previous keys", () => {
  const config = loadConfig({});
  equal(config.checkpointStream, "SESSION_AUDIT_CHECKPOINTS");
  equal(config.integrityCheckIntervalSeconds, 0);
  equal(config.checkpointIntervalSeconds, 300);
  deepStrictEqual(config.signing.hmacPreviousKeys, []);
  deepStrictEqual(config.signing.ed25519PreviousPublicKeys, []);
});

Deno.test("previous keys are comma-separated lists, each checked", () => {
  const hmac = loadConfig({
    AUDIT_SIGNING_KEY: "k".repeat(32),
    AUDIT_SIGNING_PREVIOUS_KEYS: `${"a".repeat(32)}, ${"b".repeat(40)}`,
  });
  deepStrictEqual(hmac.signing.hmacPreviousKeys, ["a".repeat(32), "b".repeat(40)]);
  const ed = loadConfig({
    ROLE: "api",
    AUDIT_SIGNING_ED25519_PUBLIC_KEY: PUBLIC_KEY,
    AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS: `${PUBLIC_KEY},${PUBLIC_KEY}`,
  });
  deepStrictEqual(ed.signing.ed25519PreviousPublicKeys, [PUBLIC_KEY, PUBLIC_KEY]);
  rejects(
    { AUDIT_SIGNING_PREVIOUS_KEYS: `${"a".repeat(32)},short` },
    "AUDIT_SIGNING_PREVIOUS_KEYS",
  );
  rejects(
    { AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS: "not base64!" },
    "AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS",
  );
  rejects(
    { AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS: btoa("sixteen bytes..!") },
    "AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS",
  );
});

Deno.test("a process that writes checkpoints needs a key that signs, not only a public key", () => {
  rejects({ AUDIT_SIGNING_ED25519_PUBLIC_KEY: PUBLIC_KEY }, "AUDIT_SIGNING_ED25519_PUBLIC_KEY");
  rejects(
    { ROLE: "ingest", AUDIT_SIGNING_ED25519_PUBLIC_KEY: PUBLIC_KEY },
    "AUDIT_SIGNING_ED25519_PUBLIC_KEY",
  );
  equal(
    loadConfig({ ROLE: "api", AUDIT_SIGNING_ED25519_PUBLIC_KEY: PUBLIC_KEY }).signing
      .ed25519PublicKey,
    PUBLIC_KEY,
  );
});

Deno.test("INTEGRITY_CHECK_INTERVAL_SECONDS and CHECKPOINT_STREAM are checked", () => {
  equal(loadConfig({ INTEGRITY_CHECK_INTERVAL_SECONDS: "60" }).integrityCheckIntervalSeconds, 60);
  for (const bad of ["-1", "1.5", "x", "86401"]) {
    rejects({ INTEGRITY_CHECK_INTERVAL_SECONDS: bad }, "INTEGRITY_CHECK_INTERVAL_SECONDS");
  }
  equal(loadConfig({ CHECKPOINT_STREAM: "AUDIT_COPY" }).checkpointStream, "AUDIT_COPY");
  rejects({ CHECKPOINT_STREAM: "has space" }, "CHECKPOINT_STREAM");
  rejects({ CHECKPOINT_STREAM: "a.b" }, "CHECKPOINT_STREAM");
  rejects({ CHECKPOINT_INTERVAL_SECONDS: "0" }, "CHECKPOINT_INTERVAL_SECONDS");
});

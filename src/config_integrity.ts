/**
 * Reads the tamper-evidence settings from the environment: the keys that
 * sign and verify checkpoints (the previous ones of a rotation included),
 * the checkpoints' interval and independent copy, and the self-check.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { ConfigError } from "./config_error.ts";
import { type Env, integer, list, longEnough, matching, read, secret } from "./config_values.ts";
import type { SigningSettings } from "./integrity/keyring.ts";

/** The tamper-evidence settings of one process. */
export interface IntegrityConfig {
  /** Keys that sign and verify the hash chain's checkpoints (all optional). */
  signing: SigningSettings;
  /** `CHECKPOINT_INTERVAL_SECONDS`: time between checkpoints. */
  checkpointIntervalSeconds: number;
  /** `CHECKPOINT_STREAM`: the JetStream stream of the checkpoints' independent copy. */
  checkpointStream: string;
  /** `INTEGRITY_CHECK_INTERVAL_SECONDS`: time between self-checks; 0 turns them off. */
  integrityCheckIntervalSeconds: number;
}

/** Shortest HMAC secret accepted (`AUDIT_SIGNING_KEY`, `AUDIT_SIGNING_PREVIOUS_KEYS`). */
export const MIN_SIGNING_SECRET_LENGTH = 32;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const STREAM_NAME = /^[A-Za-z0-9_-]{1,255}$/;

function signingSecret(name: string, text: string): string {
  return longEnough(name, text, MIN_SIGNING_SECRET_LENGTH);
}

function base64(name: string, text: string): string {
  if (!BASE64.test(text)) throw new ConfigError(name, "must be base64 (see `deno task keygen`)");
  return text;
}

function publicKey(name: string, text: string): string {
  if (Buffer.from(base64(name, text), "base64").byteLength !== 32) {
    throw new ConfigError(name, "each key must be a base64 Ed25519 public key (32 bytes)");
  }
  return text;
}

/** The signing keys, checked for form (their import is checked by the keyring). */
export function parseSigning(env: Env, writes: boolean): SigningSettings {
  const hmacKey = secret(env, "AUDIT_SIGNING_KEY", MIN_SIGNING_SECRET_LENGTH);
  const privateRaw = read(env, "AUDIT_SIGNING_ED25519_PRIVATE_KEY");
  const ed25519PrivateKey = privateRaw === undefined
    ? undefined
    : base64("AUDIT_SIGNING_ED25519_PRIVATE_KEY", privateRaw);
  const publicRaw = read(env, "AUDIT_SIGNING_ED25519_PUBLIC_KEY");
  const ed25519PublicKey = publicRaw === undefined
    ? undefined
    : base64("AUDIT_SIGNING_ED25519_PUBLIC_KEY", publicRaw);
  if (hmacKey && (ed25519PrivateKey || ed25519PublicKey)) {
    throw new ConfigError(
      "AUDIT_SIGNING_KEY",
      "conflicts with AUDIT_SIGNING_ED25519_*: sign with one algorithm",
    );
  }
  if (writes && ed25519PublicKey && !ed25519PrivateKey) {
    throw new ConfigError(
      "AUDIT_SIGNING_ED25519_PUBLIC_KEY",
      "only verifies: a process that writes checkpoints (ROLE=all or ingest) signs them with AUDIT_SIGNING_ED25519_PRIVATE_KEY",
    );
  }
  return {
    hmacKey,
    ed25519PrivateKey,
    ed25519PublicKey,
    hmacPreviousKeys: list(env, "AUDIT_SIGNING_PREVIOUS_KEYS", signingSecret) ?? [],
    ed25519PreviousPublicKeys: list(env, "AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS", publicKey) ??
      [],
  };
}

/**
 * The tamper-evidence settings. `writes`: the process writes checkpoints
 * (`ROLE` all or ingest).
 *
 * @throws {ConfigError} for the first bad value, naming its variable.
 */
export function parseIntegrity(env: Env, writes: boolean): IntegrityConfig {
  return {
    signing: parseSigning(env, writes),
    checkpointIntervalSeconds: integer(env, "CHECKPOINT_INTERVAL_SECONDS", {
      fallback: 300,
      min: 1,
      max: 86_400,
      unit: "seconds",
    }),
    checkpointStream: matching(
      "CHECKPOINT_STREAM",
      read(env, "CHECKPOINT_STREAM") ?? "SESSION_AUDIT_CHECKPOINTS",
      STREAM_NAME,
      "a stream name (letters, digits, - and _)",
    ),
    integrityCheckIntervalSeconds: integer(env, "INTEGRITY_CHECK_INTERVAL_SECONDS", {
      fallback: 0,
      min: 0,
      max: 86_400,
      unit: "seconds",
      note: "0: no self-check",
    }),
  };
}

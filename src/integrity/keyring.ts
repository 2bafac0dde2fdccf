/**
 * The keyring of checkpoint signatures: the key that signs new checkpoints
 * (if any) and every key that verifies them, the previous ones of a key
 * rotation included, each found by the key id a checkpoint carries.
 *
 * @module
 */
import { ConfigError } from "../config_error.ts";
import { type CheckpointSigner, ed25519Signer, hmacSigner } from "./signing.ts";

/** Signing settings as read from the environment. */
export interface SigningSettings {
  /** `AUDIT_SIGNING_KEY`: HMAC secret. */
  hmacKey?: string;
  /** `AUDIT_SIGNING_ED25519_PRIVATE_KEY`: base64 PKCS#8. */
  ed25519PrivateKey?: string;
  /** `AUDIT_SIGNING_ED25519_PUBLIC_KEY`: base64 raw, for verifying only. */
  ed25519PublicKey?: string;
  /** `AUDIT_SIGNING_PREVIOUS_KEYS`: HMAC secrets of earlier checkpoints. */
  hmacPreviousKeys?: readonly string[];
  /** `AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS`: base64 raw public keys of earlier checkpoints. */
  ed25519PreviousPublicKeys?: readonly string[];
}

/** A signer that can sign. */
export type SigningKey = CheckpointSigner & { sign(text: string): Promise<string> };

/** The configured keys. */
export interface Keyring {
  /** Signs new checkpoints; undefined without a secret or private key. */
  readonly signer?: SigningKey;
  /** Every key that verifies: the current one first, then the previous ones. */
  readonly keys: readonly CheckpointSigner[];
}

/** The keyring of a process without any key: nothing is signed, nothing verified. */
export const NO_KEYS: Keyring = Object.freeze({ keys: Object.freeze([]) });

/** The configured key with this id, if any. */
export function keyById(keyring: Keyring, keyId: string): CheckpointSigner | undefined {
  return keyring.keys.find((k) => k.keyId === keyId);
}

/** The configured keys of one algorithm. */
export function keysOf(keyring: Keyring, algorithm: string): CheckpointSigner[] {
  return keyring.keys.filter((k) => k.algorithm === algorithm);
}

/** A keyring of the given keys; `signer` signs and verifies. */
export function keyringOf(
  signer: CheckpointSigner | undefined,
  previous: readonly CheckpointSigner[] = [],
): Keyring {
  const keys = signer ? [signer, ...previous] : [...previous];
  return {
    signer: signer?.sign ? signer as SigningKey : undefined,
    keys,
  };
}

/** Imports one key, naming its variable when it is not usable. */
async function imported(
  variable: string,
  make: () => Promise<CheckpointSigner>,
): Promise<CheckpointSigner> {
  try {
    return await make();
  } catch (err) {
    throw new ConfigError(variable, `not a usable key (${(err as Error).message})`);
  }
}

/**
 * The keyring the settings describe ({@linkcode NO_KEYS} when none is set).
 *
 * @throws {ConfigError} naming the variable of a key that cannot be imported.
 */
export async function keyringFrom(settings: SigningSettings): Promise<Keyring> {
  let current: CheckpointSigner | undefined;
  if (settings.ed25519PrivateKey) {
    const privateKey = settings.ed25519PrivateKey;
    current = await imported(
      "AUDIT_SIGNING_ED25519_PRIVATE_KEY",
      () => ed25519Signer({ privateKey }),
    );
  } else if (settings.ed25519PublicKey) {
    const publicKey = settings.ed25519PublicKey;
    current = await imported(
      "AUDIT_SIGNING_ED25519_PUBLIC_KEY",
      () => ed25519Signer({ publicKey }),
    );
  } else if (settings.hmacKey) {
    current = await hmacSigner(settings.hmacKey);
  }
  const previous: CheckpointSigner[] = [];
  for (const secret of settings.hmacPreviousKeys ?? []) previous.push(await hmacSigner(secret));
  for (const publicKey of settings.ed25519PreviousPublicKeys ?? []) {
    previous.push(
      await imported(
        "AUDIT_SIGNING_ED25519_PREVIOUS_PUBLIC_KEYS",
        () => ed25519Signer({ publicKey }),
      ),
    );
  }
  return keyringOf(current, previous);
}

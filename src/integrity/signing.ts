/**
 * Signing chain checkpoints with one key: HMAC-SHA-256 with a shared secret,
 * or Ed25519 with a key pair (the public half is enough to verify), each
 * named by a key id. Web Crypto only.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** Algorithms a checkpoint may be signed with. */
export type SigningAlgorithm = "hmac-sha256" | "ed25519";

/** Signs and verifies checkpoint texts. */
export interface CheckpointSigner {
  readonly algorithm: SigningAlgorithm;
  /**
   * Names the key without revealing it (16 hex digits): for Ed25519 the
   * start of SHA-256 of the raw public key, for HMAC the start of an HMAC
   * of a fixed text. Stored in each checkpoint it signs.
   */
  readonly keyId: string;
  /** Absent for a verify-only Ed25519 key. */
  sign?(text: string): Promise<string>;
  verify(text: string, signature: string): Promise<boolean>;
}

const encoder = new TextEncoder();

function toBase64(bytes: ArrayBuffer): string {
  return Buffer.from(bytes).toString("base64");
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const bytes = Buffer.from(text, "base64");
  const copy = new Uint8Array(new ArrayBuffer(bytes.byteLength));
  copy.set(bytes);
  return copy;
}

/** Hex digits of a key id. */
const KEY_ID_LENGTH = 16;

function hex(bytes: ArrayBuffer): string {
  return Buffer.from(bytes).toString("hex");
}

/** An HMAC-SHA-256 signer over a shared secret. */
export async function hmacSigner(secret: string): Promise<CheckpointSigner> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  const id = await crypto.subtle.sign("HMAC", key, encoder.encode("session-audit key id"));
  return {
    algorithm: "hmac-sha256",
    keyId: hex(id).slice(0, KEY_ID_LENGTH),
    sign: async (text) => toBase64(await crypto.subtle.sign("HMAC", key, encoder.encode(text))),
    verify: async (text, signature) => {
      try {
        return await crypto.subtle.verify(
          "HMAC",
          key,
          fromBase64(signature),
          encoder.encode(text),
        );
      } catch {
        return false;
      }
    },
  };
}

/**
 * An Ed25519 signer. `privateKey` is a base64 PKCS#8 key (sign and verify);
 * `publicKey` alone, base64 of the 32 raw bytes, only verifies.
 */
export async function ed25519Signer(
  keys: { privateKey?: string; publicKey?: string },
): Promise<CheckpointSigner> {
  let privateKey: CryptoKey | undefined;
  let publicKey: CryptoKey;
  if (keys.privateKey) {
    privateKey = await crypto.subtle.importKey(
      "pkcs8",
      fromBase64(keys.privateKey),
      { name: "Ed25519" },
      true,
      ["sign"],
    );
    const jwk = await crypto.subtle.exportKey("jwk", privateKey);
    publicKey = await crypto.subtle.importKey(
      "jwk",
      { kty: jwk.kty, crv: jwk.crv, x: jwk.x },
      { name: "Ed25519" },
      true,
      ["verify"],
    );
  } else if (keys.publicKey) {
    publicKey = await crypto.subtle.importKey(
      "raw",
      fromBase64(keys.publicKey),
      { name: "Ed25519" },
      true,
      ["verify"],
    );
  } else {
    throw new Error("ed25519Signer needs a private or a public key");
  }
  const signing = privateKey;
  const raw = await crypto.subtle.exportKey("raw", publicKey);
  return {
    algorithm: "ed25519",
    keyId: hex(await crypto.subtle.digest("SHA-256", raw)).slice(0, KEY_ID_LENGTH),
    sign: signing
      ? async (text) => toBase64(await crypto.subtle.sign("Ed25519", signing, encoder.encode(text)))
      : undefined,
    verify: async (text, signature) => {
      try {
        return await crypto.subtle.verify(
          "Ed25519",
          publicKey,
          fromBase64(signature),
          encoder.encode(text),
        );
      } catch {
        return false;
      }
    },
  };
}

/** Base64 of the raw public key matching a base64 PKCS#8 Ed25519 private key. */
export async function ed25519PublicKey(privateKey: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "pkcs8",
    fromBase64(privateKey),
    { name: "Ed25519" },
    true,
    ["sign"],
  );
  const jwk = await crypto.subtle.exportKey("jwk", key);
  return Buffer.from(jwk.x as string, "base64url").toString("base64");
}

/** A new Ed25519 key pair as base64 PKCS#8 (private) and base64 raw (public). */
export async function generateEd25519(): Promise<{ privateKey: string; publicKey: string }> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  return {
    privateKey: toBase64(await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
    publicKey: toBase64(await crypto.subtle.exportKey("raw", pair.publicKey)),
  };
}

/**
 * Signed opaque tokens: `base64url(payload).base64url(mac)`, where the MAC is
 * HMAC-SHA256 over the encoded payload and a binding (what the token belongs
 * to), under a key derived from the API secret and a label. The shared
 * envelope of list cursors and position tokens.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";

/** Longest token text accepted before any decoding. */
export const MAX_SIGNED_TOKEN_LENGTH = 256;

const encoder = new TextEncoder();

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** Seals payloads into signed tokens and opens them again. */
export class SignedTokenCodec {
  /**
   * The token key: HMAC-SHA256 of the label under the secret, derived once.
   * Tokens are signed with `node:crypto`'s synchronous HMAC: about 10 µs a
   * token against about 60 for a WebCrypto `sign()` (a promise and a
   * round trip to Rust each), measured; the list route signs one per page.
   */
  readonly #key: Uint8Array;

  /**
   * @param secret The API secret; rotating it invalidates outstanding tokens.
   * @param keyLabel What the token key is derived for (such as
   * `"session-audit/list-cursor/v1"`): a token sealed under one label does not
   * open under another.
   */
  constructor(secret: string, keyLabel: string) {
    this.#key = createHmac("sha256", encoder.encode(secret)).update(keyLabel).digest();
  }

  #mac(payload: string, binding: string): Uint8Array {
    return createHmac("sha256", this.#key).update(`${payload}.${binding}`).digest();
  }

  /** Seals the payload text `body` into a token bound to `binding`. */
  seal(body: string, binding: string): string {
    const payload = toBase64Url(encoder.encode(body));
    return `${payload}.${toBase64Url(this.#mac(payload, binding))}`;
  }

  /**
   * Opens a token made by {@linkcode seal} for the same `binding`.
   *
   * @returns the payload text, or `undefined` when the token is too long, not
   * of the form `payload.mac`, altered, or sealed for another binding, label
   * or secret.
   */
  open(token: string, binding: string): string | undefined {
    if (token.length > MAX_SIGNED_TOKEN_LENGTH) return undefined;
    const parts = token.split(".");
    if (parts.length !== 2) return undefined;
    const [payload, macText] = parts;
    const mac = fromBase64Url(macText);
    const body = fromBase64Url(payload);
    if (!mac || !body) return undefined;
    const expected = this.#mac(payload, binding);
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    return new TextDecoder().decode(body);
  }
}

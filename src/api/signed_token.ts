/**
 * Signed opaque tokens: `base64url(payload).base64url(mac)`, where the MAC is
 * HMAC-SHA256 over the encoded payload and a binding (what the token belongs
 * to), under a key derived from the API secret and a label. The shared
 * envelope of list cursors and position tokens.
 *
 * @module
 */

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
  readonly #key: Promise<CryptoKey>;

  /**
   * @param secret The API secret; rotating it invalidates outstanding tokens.
   * @param keyLabel What the token key is derived for (such as
   * `"session-audit/list-cursor/v1"`): a token sealed under one label does not
   * open under another.
   */
  constructor(secret: string, keyLabel: string) {
    this.#key = (async () => {
      const master = await crypto.subtle.importKey(
        "raw",
        encoder.encode(secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      const derived = await crypto.subtle.sign("HMAC", master, encoder.encode(keyLabel));
      return await crypto.subtle.importKey(
        "raw",
        derived,
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign", "verify"],
      );
    })();
  }

  /** Seals the payload text `body` into a token bound to `binding`. */
  async seal(body: string, binding: string): Promise<string> {
    const payload = toBase64Url(encoder.encode(body));
    const mac = await crypto.subtle.sign(
      "HMAC",
      await this.#key,
      encoder.encode(`${payload}.${binding}`),
    );
    return `${payload}.${toBase64Url(new Uint8Array(mac))}`;
  }

  /**
   * Opens a token made by {@linkcode seal} for the same `binding`.
   *
   * @returns the payload text, or `undefined` when the token is too long, not
   * of the form `payload.mac`, altered, or sealed for another binding, label
   * or secret.
   */
  async open(token: string, binding: string): Promise<string | undefined> {
    if (token.length > MAX_SIGNED_TOKEN_LENGTH) return undefined;
    const parts = token.split(".");
    if (parts.length !== 2) return undefined;
    const [payload, macText] = parts;
    const mac = fromBase64Url(macText);
    const body = fromBase64Url(payload);
    if (!mac || !body) return undefined;
    const valid = await crypto.subtle.verify(
      "HMAC",
      await this.#key,
      mac,
      encoder.encode(`${payload}.${binding}`),
    );
    if (!valid) return undefined;
    return new TextDecoder().decode(body);
  }
}

/**
 * Opaque, tamper-evident tokens for a position in storage order (a row `id`):
 * the feed's `next` token and the dead-letter list's cursor. Each is signed
 * with HMAC-SHA256 together with what it is bound to (the tenant, the route),
 * so it cannot be forged, edited or carried to another tenant.
 *
 * @module
 */
import { MAX_CURSOR_LENGTH } from "./cursor.ts";

const VERSION = 1;
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

/** Signs and checks position tokens with a key derived from the API secret and a purpose. */
export class PositionTokenCodec {
  readonly #key: Promise<CryptoKey>;

  /**
   * @param secret The API secret; rotating it invalidates outstanding tokens.
   * @param purpose A label such as `"feed"`: a token made for one purpose is refused by another.
   */
  constructor(secret: string, purpose: string) {
    if (!/^[a-z-]+$/.test(purpose)) {
      throw new Error(
        `'purpose' must be lower-case letters and dashes: current value is ${purpose}`,
      );
    }
    this.#key = (async () => {
      const master = await crypto.subtle.importKey(
        "raw",
        encoder.encode(secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      const derived = await crypto.subtle.sign(
        "HMAC",
        master,
        encoder.encode(`session-audit/${purpose}-token/v1`),
      );
      return await crypto.subtle.importKey(
        "raw",
        derived,
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign", "verify"],
      );
    })();
  }

  /** Encodes row id `id` (0 = before the first row) for `binding`. */
  async encode(id: number, binding: string): Promise<string> {
    if (!Number.isSafeInteger(id) || id < 0) {
      throw new Error(`'id' must be a non-negative integer: current value is ${id}`);
    }
    const payload = toBase64Url(encoder.encode(`${VERSION}:${id}`));
    const mac = await crypto.subtle.sign(
      "HMAC",
      await this.#key,
      encoder.encode(`${payload}.${binding}`),
    );
    return `${payload}.${toBase64Url(new Uint8Array(mac))}`;
  }

  /**
   * Decodes a token made by {@linkcode encode} for the same `binding`.
   *
   * @returns the row id, or `undefined` when the text is garbage, was altered,
   * or belongs to another binding, purpose or secret.
   */
  async decode(token: string, binding: string): Promise<number | undefined> {
    if (token.length > MAX_CURSOR_LENGTH) return undefined;
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
    const match = /^1:(0|[1-9]\d{0,15})$/.exec(new TextDecoder().decode(body));
    if (!match) return undefined;
    const id = Number(match[1]);
    return Number.isSafeInteger(id) ? id : undefined;
  }
}

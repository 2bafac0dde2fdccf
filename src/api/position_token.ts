/**
 * Opaque, tamper-evident tokens for a position in storage order (a row `id`):
 * the feed's `next` token and the dead-letter list's cursor. Each is signed
 * with HMAC-SHA256 together with what it is bound to (the tenant, the route),
 * so it cannot be forged, edited or carried to another tenant.
 *
 * @module
 */
import { SignedTokenCodec } from "./signed_token.ts";

const VERSION = 1;

/** Signs and checks position tokens with a key derived from the API secret and a purpose. */
export class PositionTokenCodec {
  readonly #tokens: SignedTokenCodec;

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
    this.#tokens = new SignedTokenCodec(secret, `session-audit/${purpose}-token/v1`);
  }

  /** Encodes row id `id` (0 = before the first row) for `binding`. */
  encode(id: number, binding: string): string {
    if (!Number.isSafeInteger(id) || id < 0) {
      throw new Error(`'id' must be a non-negative integer: current value is ${id}`);
    }
    return this.#tokens.seal(`${VERSION}:${id}`, binding);
  }

  /**
   * Decodes a token made by {@linkcode encode} for the same `binding`.
   *
   * @returns the row id, or `undefined` when the text is garbage, was altered,
   * or belongs to another binding, purpose or secret.
   */
  decode(token: string, binding: string): number | undefined {
    const body = this.#tokens.open(token, binding);
    if (body === undefined) return undefined;
    const match = /^1:(0|[1-9]\d{0,15})$/.exec(body);
    if (!match) return undefined;
    const id = Number(match[1]);
    return Number.isSafeInteger(id) ? id : undefined;
  }
}

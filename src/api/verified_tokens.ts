/**
 * HS256 tokens whose signature and times have verified, kept by their exact
 * text until their times could make a difference: a client sends the same
 * token with every request (a platform access token lives 15 minutes), and
 * an HMAC check through WebCrypto costs about 60 µs, a sizeable part of a
 * list request (bench/README.md). The same text under the same secret
 * always verifies the same way; `exp`, `nbf` and `iat` are compared with the
 * clock again at every use, and outside the window in which all three pass
 * the token goes through full verification again (which names the reason).
 *
 * @module
 */
import type { JWTPayload } from "jose";

interface Entry {
  claims: JWTPayload;
  /** First second (epoch, whole) at which `nbf` and `iat` pass within the leeway. */
  from: number;
  /** First second at which `exp` no longer passes. */
  until: number;
}

/** Verified tokens by text, at most `limit` (beyond, the set starts again). */
export class VerifiedTokens {
  readonly #limit: number;
  #entries = new Map<string, Entry>();

  /** @param limit Tokens kept at most. @default 1024 */
  constructor(limit = 1024) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`'limit' must be a positive integer: current value is ${limit}`);
    }
    this.#limit = limit;
  }

  /**
   * The claims of `token` if it verified before and its times all pass at
   * `nowSeconds` (whole seconds since the epoch, as the verifier compares).
   */
  get(token: string, nowSeconds: number): JWTPayload | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined || nowSeconds < entry.from || nowSeconds >= entry.until) {
      return undefined;
    }
    return entry.claims;
  }

  /**
   * Keeps `token`, whose signature and times have just verified with
   * `leewaySeconds` (`exp` must be a number: a token without it never verifies).
   */
  remember(token: string, claims: JWTPayload, leewaySeconds: number): void {
    if (typeof claims.exp !== "number") return;
    const notBefore = Math.max(
      typeof claims.nbf === "number" ? claims.nbf : -Infinity,
      typeof claims.iat === "number" ? claims.iat : -Infinity,
    );
    if (this.#entries.size >= this.#limit) this.#entries = new Map();
    this.#entries.set(token, {
      claims: Object.freeze(claims),
      from: notBefore - leewaySeconds,
      until: claims.exp + leewaySeconds,
    });
  }
}

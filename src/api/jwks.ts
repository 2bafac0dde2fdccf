/**
 * The identity provider's signing keys, fetched from its JSON Web Key Set
 * URL and cached: tokens are verified against the cache, an unknown `kid`
 * fetches the set again (at most once per cool-down, so a flood of forged
 * `kid`s cannot hammer the provider), a set older than its maximum age is
 * refreshed in the background, and a provider that is slow, down or answers
 * garbage leaves the cache as it was (no keys: every token is refused).
 *
 * Why not `jose`'s `createRemoteJWKSet` (read in jose 6.2, `jwks/remote.js`):
 * - its cool-down runs from the last *successful* fetch, so while the
 *   provider is down or hangs every request fetches again and waits up to
 *   the timeout (here a failed fetch starts the cool-down too);
 * - once the set is older than `cacheMaxAge` it is fetched before verifying,
 *   and a failed fetch refuses every token although the keys are cached
 *   (here the cached set keeps verifying while a refresh runs behind);
 * - it reads any body size (here at most `maxBytes`), measures time with
 *   `Date.now()` (here the injected {@linkcode Timers}, so the tests drive
 *   the cool-down and the maximum age), and reports failures only as the
 *   failing verification (here `onFetchError`, logged).
 * `tests/api_jwks_test.ts` holds each of these. The keys themselves, the
 * `kid`/`alg` matching and all cryptography are `jose`'s
 * (`createLocalJWKSet`, `jwtVerify`).
 *
 * @module
 */
import {
  createLocalJWKSet,
  type CryptoKey as VerificationKey,
  errors,
  type JWSHeaderParameters,
  type LocalJWKSet,
} from "jose";
import { systemTimers, type Timers } from "../clock.ts";

/** Options of {@linkcode JwksKeys}. */
export interface JwksKeysOptions {
  /** The key set's URL (`API_JWKS_URL`). */
  url: string;
  /**
   * Monotonic clock and timers of the cool-down, the maximum age and the fetch timeout.
   * @default systemTimers
   */
  timers?: Timers;
  /**
   * How long one fetch may take, body included, ms.
   * @default 5000
   */
  timeoutMs?: number;
  /**
   * Least time between two fetches (successful or not), ms.
   * @default 30000
   */
  cooldownMs?: number;
  /**
   * Age after which the set is fetched again in the background, ms.
   * @default 600000
   */
  maxAgeMs?: number;
  /**
   * Largest key set accepted, bytes.
   * @default 262144
   */
  maxBytes?: number;
  /** Told why a fetch failed (the cache is kept). */
  onFetchError?: (error: Error) => void;
}

/** The key set could not be fetched and no earlier copy is cached. */
export class JwksUnavailableError extends Error {
  constructor() {
    super("the identity provider's key set is unavailable");
    this.name = "JwksUnavailableError";
  }
}

/** A fetch of the key set failed; the message says how. */
export class JwksFetchError extends Error {
  constructor(url: string, problem: string) {
    super(`${url}: ${problem}`);
    this.name = "JwksFetchError";
  }
}

/** The identity provider's public keys, cached; {@linkcode JwksKeys.resolve} is a `jose` key resolver. */
export class JwksKeys {
  readonly #url: string;
  readonly #timers: Timers;
  readonly #timeoutMs: number;
  readonly #cooldownMs: number;
  readonly #maxAgeMs: number;
  readonly #maxBytes: number;
  readonly #onFetchError: (error: Error) => void;
  #keys: LocalJWKSet | undefined;
  #fetchedAt = -Infinity;
  #triedAt = -Infinity;
  #inFlight: Promise<boolean> | undefined;

  constructor(options: JwksKeysOptions) {
    this.#url = options.url;
    this.#timers = options.timers ?? systemTimers;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#cooldownMs = options.cooldownMs ?? 30_000;
    this.#maxAgeMs = options.maxAgeMs ?? 600_000;
    this.#maxBytes = options.maxBytes ?? 262_144;
    this.#onFetchError = options.onFetchError ?? (() => {});
  }

  /**
   * The key that verifies a token with this protected header, from the
   * cache; fetches the set only when none is cached or no key matches.
   *
   * @throws {JwksUnavailableError} when no key set could be had.
   * @throws `jose`'s `JWKSNoMatchingKey` when no key matches, even after a fetch.
   */
  readonly resolve = async (header: JWSHeaderParameters): Promise<VerificationKey> => {
    if (this.#keys === undefined) await this.refresh();
    else if (this.#timers.now() - this.#fetchedAt >= this.#maxAgeMs) void this.refresh();
    const keys = this.#keys;
    if (keys === undefined) throw new JwksUnavailableError();
    try {
      return await keys(header);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || !(await this.refresh())) throw error;
      return await this.#keys!(header);
    }
  };

  /**
   * Fetches the key set unless a fetch is running (its outcome is shared) or
   * one started less than the cool-down ago.
   *
   * @returns whether a new set is now cached.
   */
  refresh(): Promise<boolean> {
    if (this.#inFlight !== undefined) return this.#inFlight;
    const now = this.#timers.now();
    if (now - this.#triedAt < this.#cooldownMs) return Promise.resolve(false);
    this.#triedAt = now;
    const fetching = this.#fetch().then(
      (keys) => {
        this.#keys = keys;
        this.#fetchedAt = this.#timers.now();
        return true;
      },
      (error: Error) => {
        this.#onFetchError(error);
        return false;
      },
    ).finally(() => this.#inFlight = undefined);
    this.#inFlight = fetching;
    return fetching;
  }

  async #fetch(): Promise<LocalJWKSet> {
    const aborter = new AbortController();
    const timer = this.#timers.setTimeout(() => aborter.abort(), this.#timeoutMs);
    try {
      const response = await fetch(this.#url, {
        signal: aborter.signal,
        redirect: "error",
        headers: { Accept: "application/jwk-set+json, application/json" },
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new JwksFetchError(this.#url, `answered HTTP ${response.status}`);
      }
      const text = await this.#readBody(response);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new JwksFetchError(this.#url, "answered something that is not JSON");
      }
      try {
        return createLocalJWKSet(json as Parameters<typeof createLocalJWKSet>[0]);
      } catch {
        throw new JwksFetchError(
          this.#url,
          'answered JSON that is not a key set ({"keys": [...]})',
        );
      }
    } catch (error) {
      if (aborter.signal.aborted) {
        throw new JwksFetchError(this.#url, `no complete answer within ${this.#timeoutMs} ms`);
      }
      if (error instanceof JwksFetchError) throw error;
      throw new JwksFetchError(this.#url, (error as Error).message);
    } finally {
      this.#timers.clearTimeout(timer);
    }
  }

  async #readBody(response: Response): Promise<string> {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of response.body ?? []) {
      size += chunk.byteLength;
      if (size > this.#maxBytes) {
        throw new JwksFetchError(this.#url, `answered more than ${this.#maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
    const body = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      body.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return new TextDecoder().decode(body);
  }
}

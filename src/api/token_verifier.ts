/**
 * Verification of bearer tokens: each key source verifies only its own
 * algorithms (the HS256 secret never an RS256/ES256/EdDSA token, the
 * identity provider's key set never an HS256 one; `alg: none` and every
 * other algorithm are refused), with a clock leeway on `exp`, `nbf` and
 * `iat`, and `iss`/`aud` pinning for identity-provider tokens.
 *
 * @module
 */
import {
  type CryptoKey as VerificationKey,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyOptions,
} from "jose";
import { type Clock, type Timers, wallClock } from "../clock.ts";
import type { Config } from "../config.ts";
import type { ApiAuthConfig } from "../config_auth.ts";
import type { Logger } from "../log.ts";
import { JwksKeys, JwksUnavailableError } from "./jwks.ts";
import { VerifiedTokens } from "./verified_tokens.ts";

/** The algorithm of tokens signed with the shared secret (`API_JWT_SECRET`). */
export const SECRET_ALGORITHM = "HS256";
/** The algorithms of tokens signed with the identity provider's keys (`API_JWKS_URL`). */
export const KEY_SET_ALGORITHMS: readonly string[] = ["RS256", "ES256", "EdDSA"];

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Options of {@linkcode TokenVerifier}. */
export interface TokenVerifierOptions {
  /** The HS256 secret; without it HS256 tokens are refused. */
  secret?: string;
  /** The identity provider's keys; without them RS256, ES256 and EdDSA tokens are refused. */
  jwks?: JwksKeys;
  /** The `iss` an identity-provider token must carry. */
  issuer?: string;
  /** An `aud` an identity-provider token must carry. */
  audience?: string;
  /**
   * Clock skew allowed on `exp`, `nbf` and `iat`, seconds.
   * @default 60
   */
  leewaySeconds?: number;
  /**
   * The wall clock (epoch ms) that `exp`, `nbf` and `iat` are compared with.
   * @default wallClock
   */
  clock?: Clock;
}

/** The outcome of {@linkcode TokenVerifier.verify}: verified claims, or why not. */
export type Verification =
  | { ok: true; claims: JWTPayload }
  | { ok: false; reason: string };

interface KeySource {
  key: VerificationKey | JwksKeys["resolve"];
  options: JWTVerifyOptions;
}

/** Verifies compact JWS tokens against the configured key sources. */
export class TokenVerifier {
  readonly #secret: Promise<KeySource> | undefined;
  readonly #jwks: JwksKeys | undefined;
  readonly #keySet: KeySource | undefined;
  readonly #leeway: number;
  readonly #clock: Clock;
  /** HS256 tokens already verified (the secret never changes in a process; a key set may). */
  readonly #verified = new VerifiedTokens();

  constructor(options: TokenVerifierOptions) {
    this.#leeway = options.leewaySeconds ?? 60;
    this.#clock = options.clock ?? wallClock;
    const common = { clockTolerance: this.#leeway, requiredClaims: ["exp"] };
    if (options.secret !== undefined) {
      const secretOptions = { ...common, algorithms: [SECRET_ALGORITHM] };
      this.#secret = crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode(options.secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["verify"],
      ).then((key) => ({ key, options: secretOptions }));
    }
    this.#jwks = options.jwks;
    if (options.jwks !== undefined) {
      this.#keySet = {
        key: options.jwks.resolve,
        options: {
          ...common,
          algorithms: [...KEY_SET_ALGORITHMS],
          issuer: options.issuer,
          audience: options.audience,
        },
      };
    }
  }

  /**
   * Fetches the identity provider's key set now, in the background, so that
   * the first token does not wait for it (a failure is reported and retried
   * after the cool-down).
   */
  prefetch(): void {
    void this.#jwks?.refresh();
  }

  /** Whether any token can verify (a secret or a key set is configured). */
  get acceptsAny(): boolean {
    return this.#secret !== undefined || this.#jwks !== undefined;
  }

  /** Verifies a token: its signature by the source of its algorithm, then its times. */
  async verify(token: string): Promise<Verification> {
    if (!COMPACT_JWS.test(token)) return refused("the token is not a compact JWT");
    const known = this.#verified.get(token, Math.floor(this.#clock.now() / 1000));
    if (known !== undefined) return { ok: true, claims: known };
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return refused("the token's header is not base64url JSON");
    }
    const source = await this.#sourceFor(alg);
    if (typeof source === "string") return refused(source);
    let claims: JWTPayload;
    try {
      claims = (await jwtVerify(token, source.key, this.#options(source.options))).payload;
    } catch (error) {
      return refused(describe(error));
    }
    const now = Math.floor(this.#clock.now() / 1000);
    if (typeof claims.iat === "number" && claims.iat > now + this.#leeway) {
      return refused("the token is issued in the future (iat), beyond the clock leeway");
    }
    if (alg === SECRET_ALGORITHM) this.#verified.remember(token, claims, this.#leeway);
    return { ok: true, claims };
  }

  /** The key source that verifies `alg`, or why there is none. */
  #sourceFor(alg: unknown): Promise<KeySource> | KeySource | string {
    if (alg === SECRET_ALGORITHM) {
      return this.#secret ?? "HS256 tokens are not accepted (no API_JWT_SECRET)";
    }
    if (typeof alg === "string" && KEY_SET_ALGORITHMS.includes(alg)) {
      return this.#keySet ?? `${alg} tokens are not accepted (no API_JWKS_URL)`;
    }
    return `alg ${JSON.stringify(alg)} is not accepted (HS256, RS256, ES256 or EdDSA)`;
  }

  /** `jose` reads the wall clock itself; an injected clock is passed as the current date. */
  #options(options: JWTVerifyOptions): JWTVerifyOptions {
    if (this.#clock === wallClock) return options;
    return { ...options, currentDate: new Date(this.#clock.now()) };
  }
}

function refused(reason: string): Verification {
  return { ok: false, reason };
}

/** Why `jose` refused a token, in words for `WWW-Authenticate`. */
function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) {
    return "the token has expired (exp), beyond the clock leeway";
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === "missing") return `the token has no ${error.claim} claim`;
    if (error.claim === "nbf") return "the token is not valid yet (nbf), beyond the clock leeway";
    if (error.claim === "iss" || error.claim === "aud") {
      return `the token's ${error.claim} is not the one this service accepts`;
    }
    return `the token's ${error.claim} claim is invalid`;
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return "the token's signature does not verify";
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return "no key of the identity provider's key set matches the token's kid";
  }
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return "the token names no kid and the identity provider's key set has several keys";
  }
  if (error instanceof JwksUnavailableError) return error.message;
  return "the token is malformed";
}

/** Extra parts of {@linkcode createTokenVerifier}, for tests and logging. */
export interface TokenVerifierParts {
  /** The wall clock of `exp`, `nbf` and `iat`. */
  clock?: Clock;
  /** Timers of the key set's cache. */
  timers?: Timers;
  /** Told why a key-set fetch failed. */
  onJwksError?: (error: Error) => void;
}

/** The verifier of a configuration: `API_JWT_SECRET` and the `API_JWKS_*` settings. */
export function createTokenVerifier(
  secret: string | undefined,
  auth: ApiAuthConfig,
  parts: TokenVerifierParts = {},
): TokenVerifier {
  const jwks = auth.jwksUrl === undefined
    ? undefined
    : new JwksKeys({ url: auth.jwksUrl, timers: parts.timers, onFetchError: parts.onJwksError });
  return new TokenVerifier({
    secret,
    jwks,
    issuer: auth.jwksIssuer,
    audience: auth.jwksAudience,
    leewaySeconds: auth.leewaySeconds,
    clock: parts.clock,
  });
}

/**
 * The verifier of a running service: built from its configuration, key-set
 * fetch failures logged as warnings, the key set fetched at once.
 */
export function startTokenVerifier(
  config: Pick<Config, "apiJwtSecret" | "apiAuth">,
  logger: Logger,
): TokenVerifier {
  const verifier = createTokenVerifier(config.apiJwtSecret, config.apiAuth, {
    onJwksError: (error) => logger.warn("identity provider key set fetch failed", { error }),
  });
  verifier.prefetch();
  return verifier;
}

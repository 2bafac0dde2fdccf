/**
 * Minting API bearer tokens (HS256 JWTs): this service's own, for a tenant
 * or an administrator, and tokens shaped as the platform issues them.
 *
 * @module
 */
import { sign } from "hono/jwt";
import * as v from "valibot";
import { type Clock, wallClock } from "../clock.ts";
import { JWT_ALGORITHM } from "./auth.ts";

/** Lifetime of a token when none is given: one hour. */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

function checkSecret(secret: string): void {
  if (secret.length < 32) {
    throw new TypeError(
      `'secret' must be at least 32 characters: current length is ${secret.length}`,
    );
  }
}

function checkUuid(name: string, value: string): void {
  if (!v.is(v.pipe(v.string(), v.uuid()), value)) {
    throw new TypeError(`'${name}' must be a UUID: current value is ${JSON.stringify(value)}`);
  }
}

function checkTtl(ttlSeconds: number): void {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new TypeError(
      `'ttlSeconds' must be a positive integer: current value is ${ttlSeconds}`,
    );
  }
}

/** Options of {@linkcode mintToken}. */
export interface MintTokenOptions {
  /** The HS256 secret (`API_JWT_SECRET`), at least 32 characters. */
  secret: string;
  /** The tenant the token reads; required unless `admin`. */
  tenantId?: string;
  /**
   * Grant `role: "admin"`: read every tenant.
   * @default false
   */
  admin?: boolean;
  /**
   * Seconds until the token expires.
   * @default 3600
   */
  ttlSeconds?: number;
}

/**
 * Signs a token whose claims are `tenant_id` and/or `role: "admin"`, `iat` and `exp`.
 *
 * @throws {TypeError} when the secret is short, the tenant is not a UUID,
 * neither a tenant nor admin is asked for, or the lifetime is not a positive integer.
 */
export async function mintToken(options: MintTokenOptions): Promise<string> {
  const {
    secret,
    tenantId,
    admin = false,
    ttlSeconds = DEFAULT_TOKEN_TTL_SECONDS,
  } = options;
  checkSecret(secret);
  if (tenantId !== undefined) checkUuid("tenantId", tenantId);
  if (tenantId === undefined && !admin) {
    throw new TypeError(
      "'tenantId' or 'admin' must be given: a token without either reads nothing",
    );
  }
  checkTtl(ttlSeconds);
  const now = Math.floor(Date.now() / 1000);
  return await sign(
    {
      ...(tenantId === undefined ? {} : { tenant_id: tenantId.toLowerCase() }),
      ...(admin ? { role: "admin" } : {}),
      iat: now,
      exp: now + ttlSeconds,
    },
    secret,
    JWT_ALGORITHM,
  );
}

/** The platform's roles, most privileged first. */
export const PLATFORM_ROLES = ["super_admin", "tenant_admin", "operator", "viewer"] as const;
/** One of {@linkcode PLATFORM_ROLES}. */
export type PlatformRole = typeof PLATFORM_ROLES[number];

/** Lifetime of the platform's access tokens: 15 minutes. */
export const PLATFORM_ACCESS_TTL_SECONDS = 15 * 60;
/** Lifetime of the platform's refresh tokens: 7 days. */
export const PLATFORM_REFRESH_TTL_SECONDS = 7 * 86_400;

/** Options of {@linkcode mintPlatformToken}. */
export interface MintPlatformTokenOptions {
  /** The platform's secret (`API_JWT_SECRET` here), at least 32 characters. */
  secret: string;
  /** The user (`sub`), a UUID. */
  subject: string;
  /**
   * `access` (with role and tenant) or `refresh` (only `sub`, as the platform issues them).
   * @default "access"
   */
  type?: "access" | "refresh";
  /** The user's role; required for an access token. */
  role?: PlatformRole;
  /** The user's tenant; `null` for a platform-wide `super_admin`. */
  tenantId?: string | null;
  /**
   * Seconds until the token expires.
   * @default 900 for access, 604800 for refresh tokens
   */
  ttlSeconds?: number;
  /**
   * The wall clock of `iat`.
   * @default wallClock
   */
  clock?: Clock;
}

/**
 * Signs a token exactly as the platform's backend does (HS256, header
 * `{"alg":"HS256","typ":"JWT"}`): an access token's claims are `sub`,
 * `tenant_id` (a UUID or `null`), `role`, `type: "access"`, `iat`, `exp` in
 * that order; a refresh token's are `sub`, `type: "refresh"`, `iat`, `exp`.
 *
 * @throws {TypeError} when the secret is short, the subject or tenant is not
 * a UUID, an access token has no known role, or the lifetime is not a positive integer.
 */
export async function mintPlatformToken(options: MintPlatformTokenOptions): Promise<string> {
  const { secret, subject, type = "access", tenantId = null, clock = wallClock } = options;
  const ttlSeconds = options.ttlSeconds ??
    (type === "access" ? PLATFORM_ACCESS_TTL_SECONDS : PLATFORM_REFRESH_TTL_SECONDS);
  checkSecret(secret);
  checkUuid("subject", subject);
  if (tenantId !== null) checkUuid("tenantId", tenantId);
  if (type === "access" && !PLATFORM_ROLES.includes(options.role as PlatformRole)) {
    throw new TypeError(
      `'role' must be one of ${PLATFORM_ROLES.join(", ")}: current value is ${
        JSON.stringify(options.role)
      }`,
    );
  }
  checkTtl(ttlSeconds);
  const iat = Math.floor(clock.now() / 1000);
  // Python's str(uuid.UUID) is lower-case.
  const sub = subject.toLowerCase();
  const claims = type === "access"
    ? {
      sub,
      tenant_id: tenantId?.toLowerCase() ?? null,
      role: options.role,
      type,
      iat,
      exp: iat + ttlSeconds,
    }
    : { sub, type, iat, exp: iat + ttlSeconds };
  return await sign(claims, secret, JWT_ALGORITHM);
}

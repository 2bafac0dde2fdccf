/**
 * Minting API bearer tokens (HS256 JWTs) for a tenant or an administrator.
 *
 * @module
 */
import { sign } from "hono/jwt";
import * as v from "valibot";
import { JWT_ALGORITHM } from "./auth.ts";

/** Lifetime of a token when none is given: one hour. */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

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
  if (secret.length < 32) {
    throw new TypeError(
      `'secret' must be at least 32 characters: current length is ${secret.length}`,
    );
  }
  if (tenantId !== undefined && !v.is(v.pipe(v.string(), v.uuid()), tenantId)) {
    throw new TypeError(
      `'tenantId' must be a UUID: current value is ${JSON.stringify(tenantId)}`,
    );
  }
  if (tenantId === undefined && !admin) {
    throw new TypeError(
      "'tenantId' or 'admin' must be given: a token without either reads nothing",
    );
  }
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new TypeError(
      `'ttlSeconds' must be a positive integer: current value is ${ttlSeconds}`,
    );
  }
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

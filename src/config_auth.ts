/**
 * Reads the read API's token settings from the environment: the identity
 * provider's key set, the clock leeway, the claim mapping (which roles read
 * every tenant, which may read at all) and the key of page cursors.
 *
 * @module
 */
import { ConfigError } from "./config_error.ts";
import { type Env, integer, list, matching, quoted, read, secret, url } from "./config_values.ts";

/** How the read API accepts tokens, beyond `API_JWT_SECRET`. */
export interface ApiAuthConfig {
  /** `API_JWKS_URL`: the identity provider's JSON Web Key Set (RS256, ES256, EdDSA tokens). */
  jwksUrl?: string;
  /** `API_JWKS_ISSUER`: the `iss` a key-set token must carry. */
  jwksIssuer?: string;
  /** `API_JWKS_AUDIENCE`: an `aud` a key-set token must carry. */
  jwksAudience?: string;
  /** `API_JWT_LEEWAY_SECONDS`: clock skew allowed on `exp`, `nbf` and `iat`. */
  leewaySeconds: number;
  /** `API_ADMIN_ROLES`: roles that read every tenant. */
  adminRoles: string[];
  /** `API_READ_ROLES`: roles that may read at all; `undefined`: any. */
  readRoles?: string[];
  /**
   * Key of page cursors and feed tokens: `API_CURSOR_SECRET`, else
   * `API_JWT_SECRET`; `undefined` only when no token is accepted at all.
   */
  cursorSecret?: string;
}

/** Default of `API_JWT_LEEWAY_SECONDS`. */
export const DEFAULT_LEEWAY_SECONDS = 60;
/** Largest `API_JWT_LEEWAY_SECONDS`. */
export const MAX_LEEWAY_SECONDS = 300;
/** Default of `API_ADMIN_ROLES`: this service's own admin tokens and the platform's super_admin. */
export const DEFAULT_ADMIN_ROLES: readonly string[] = ["admin", "super_admin"];
/** Shortest HMAC secret accepted (`API_JWT_SECRET`, `API_CURSOR_SECRET`). */
export const MIN_SECRET_LENGTH = 32;

const ROLE = /^[A-Za-z0-9_.:-]{1,64}$/;
const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

function role(name: string, item: string): string {
  return matching(name, item, ROLE, "roles of 1-64 letters, digits or _.:-");
}

function jwksUrl(raw: string): string {
  const parsed = url("API_JWKS_URL", raw, ["https:", "http:"], " (http:// only on the loopback)");
  if (parsed.protocol === "http:" && !LOOPBACK.has(parsed.hostname)) {
    throw new ConfigError(
      "API_JWKS_URL",
      `must be an https:// URL (http:// only on the loopback): current value is ${quoted(raw)}`,
    );
  }
  if (parsed.username || parsed.password) {
    throw new ConfigError("API_JWKS_URL", "must not carry credentials");
  }
  return parsed.href;
}

/**
 * Builds the {@linkcode ApiAuthConfig} from environment variables.
 *
 * @param env The environment.
 * @param jwtSecret `API_JWT_SECRET`, already validated.
 * @throws {ConfigError} for the first bad value, naming its variable.
 */
export function parseApiAuth(env: Env, jwtSecret: string | undefined): ApiAuthConfig {
  const rawUrl = read(env, "API_JWKS_URL");
  const jwks = rawUrl === undefined ? undefined : jwksUrl(rawUrl);
  const jwksIssuer = read(env, "API_JWKS_ISSUER");
  const jwksAudience = read(env, "API_JWKS_AUDIENCE");
  for (
    const [name, setting] of [["API_JWKS_ISSUER", jwksIssuer], ["API_JWKS_AUDIENCE", jwksAudience]]
  ) {
    if (setting !== undefined && jwks === undefined) {
      throw new ConfigError(name as string, "pins identity-provider tokens: set API_JWKS_URL too");
    }
  }
  const cursorSecret = secret(env, "API_CURSOR_SECRET", MIN_SECRET_LENGTH);
  if (jwks !== undefined && jwtSecret === undefined && cursorSecret === undefined) {
    throw new ConfigError(
      "API_CURSOR_SECRET",
      "is needed to sign page cursors and feed tokens when API_JWKS_URL is set without API_JWT_SECRET",
    );
  }
  return {
    jwksUrl: jwks,
    jwksIssuer,
    jwksAudience,
    leewaySeconds: integer(env, "API_JWT_LEEWAY_SECONDS", {
      fallback: DEFAULT_LEEWAY_SECONDS,
      min: 0,
      max: MAX_LEEWAY_SECONDS,
      unit: "seconds",
    }),
    adminRoles: list(env, "API_ADMIN_ROLES", role) ?? [...DEFAULT_ADMIN_ROLES],
    readRoles: list(env, "API_READ_ROLES", role),
    cursorSecret: cursorSecret ?? jwtSecret,
  };
}

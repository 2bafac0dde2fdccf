/**
 * Reads the read API's token settings from the environment: the identity
 * provider's key set, the clock leeway, the claim mapping (which roles read
 * every tenant, which may read at all) and the key of page cursors.
 *
 * @module
 */
import { ConfigError } from "./config_error.ts";

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

type Env = Record<string, string | undefined>;

function value(env: Env, name: string): string | undefined {
  const text = env[name]?.trim();
  return text === "" ? undefined : text;
}

function shown(text: string): string {
  return JSON.stringify(text.length > 80 ? text.slice(0, 77) + "..." : text);
}

function roleList(env: Env, name: string): string[] | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  const roles = raw.split(",").map((role) => role.trim()).filter(Boolean);
  if (roles.length === 0) {
    throw new ConfigError(name, `names no role: current value is ${shown(raw)}`);
  }
  for (const role of roles) {
    if (!ROLE.test(role)) {
      throw new ConfigError(
        name,
        `each role must be 1-64 letters, digits or _.:-: current value is ${shown(raw)}`,
      );
    }
  }
  return roles;
}

function jwksUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      "API_JWKS_URL",
      `must be an https:// URL: current value is ${shown(raw)}`,
    );
  }
  const loopbackHttp = url.protocol === "http:" && LOOPBACK.has(url.hostname);
  if (url.protocol !== "https:" && !loopbackHttp) {
    throw new ConfigError(
      "API_JWKS_URL",
      `must be an https:// URL (http:// only on the loopback): current value is ${shown(raw)}`,
    );
  }
  if (url.username || url.password) {
    throw new ConfigError("API_JWKS_URL", "must not carry credentials");
  }
  return url.href;
}

function leeway(env: Env): number {
  const raw = value(env, "API_JWT_LEEWAY_SECONDS");
  if (raw === undefined) return DEFAULT_LEEWAY_SECONDS;
  if (!/^\d{1,3}$/.test(raw) || Number(raw) > MAX_LEEWAY_SECONDS) {
    throw new ConfigError(
      "API_JWT_LEEWAY_SECONDS",
      `must be whole seconds from 0 to ${MAX_LEEWAY_SECONDS}: current value is ${shown(raw)}`,
    );
  }
  return Number(raw);
}

/**
 * Builds the {@linkcode ApiAuthConfig} from environment variables.
 *
 * @param env The environment.
 * @param jwtSecret `API_JWT_SECRET`, already validated.
 * @throws {ConfigError} for the first bad value, naming its variable.
 */
export function parseApiAuth(env: Env, jwtSecret: string | undefined): ApiAuthConfig {
  const rawUrl = value(env, "API_JWKS_URL");
  const url = rawUrl === undefined ? undefined : jwksUrl(rawUrl);
  const jwksIssuer = value(env, "API_JWKS_ISSUER");
  const jwksAudience = value(env, "API_JWKS_AUDIENCE");
  for (
    const [name, setting] of [["API_JWKS_ISSUER", jwksIssuer], ["API_JWKS_AUDIENCE", jwksAudience]]
  ) {
    if (setting !== undefined && url === undefined) {
      throw new ConfigError(name as string, "pins identity-provider tokens: set API_JWKS_URL too");
    }
  }
  const cursorSecret = env["API_CURSOR_SECRET"] || undefined;
  if (cursorSecret !== undefined && cursorSecret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(
      "API_CURSOR_SECRET",
      `must be at least ${MIN_SECRET_LENGTH} characters: current length is ${cursorSecret.length}`,
    );
  }
  if (url !== undefined && jwtSecret === undefined && cursorSecret === undefined) {
    throw new ConfigError(
      "API_CURSOR_SECRET",
      "is needed to sign page cursors and feed tokens when API_JWKS_URL is set without API_JWT_SECRET",
    );
  }
  return {
    jwksUrl: url,
    jwksIssuer,
    jwksAudience,
    leewaySeconds: leeway(env),
    adminRoles: roleList(env, "API_ADMIN_ROLES") ?? [...DEFAULT_ADMIN_ROLES],
    readRoles: roleList(env, "API_READ_ROLES"),
    cursorSecret: cursorSecret ?? jwtSecret,
  };
}

/**
 * Bearer-token authentication of the read API: a JWT verified by the
 * configured key sources whose claims become the request's
 * {@linkcode AuthScope}, a typed context variable.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { type AuthScope, type ClaimPolicy, decideAccess } from "./claims.ts";
import { apiError } from "./errors.ts";
import { SECRET_ALGORITHM, type TokenVerifier } from "./token_verifier.ts";

export type { AuthScope };

/** Hono environment of routes behind {@linkcode bearerJwt}. */
export interface AuthEnv {
  Variables: { auth: AuthScope };
}

/** Options of {@linkcode bearerJwt}. */
export interface BearerJwtOptions {
  /** Verifies tokens; one that accepts nothing refuses every request with 401. */
  tokens: TokenVerifier;
  /** Which roles read every tenant and which may read at all. */
  claims: ClaimPolicy;
  /**
   * The realm named in `WWW-Authenticate`.
   * @default "session-audit"
   */
  realm?: string;
}

/** The algorithm of this service's own tokens (`deno task token`). */
export const JWT_ALGORITHM = SECRET_ALGORITHM;

/** Longest `Authorization` header read: a longer one is refused before any parsing. */
export const MAX_AUTHORIZATION_LENGTH = 8192;

const BEARER = /^Bearer +(\S+) *$/i;

function quote(text: string): string {
  return `"${text.replace(/["\\]/g, "")}"`;
}

/**
 * Middleware behind {@linkcode bearerJwt} that lets only an administrator
 * through: a tenant token is refused with 403 and `message`.
 */
export function adminOnly(
  message = "this route is for administrators (role: admin)",
): MiddlewareHandler<AuthEnv> {
  return async function adminOnlyAuth(c, next) {
    if (c.get("auth").kind !== "admin") throw apiError(403, "forbidden", message);
    await next();
  };
}

/**
 * Middleware that accepts `Authorization: Bearer <JWT>` (`exp` required,
 * `nbf` and `iat` honoured within the leeway) and sets the `auth` context
 * variable. Refuses with 401 and `WWW-Authenticate` when the token is
 * missing, too long, bad or not an access token (or no key source is
 * configured), with 403 when a valid token grants nothing.
 */
export function bearerJwt(options: BearerJwtOptions): MiddlewareHandler<AuthEnv> {
  const { tokens, claims: policy } = options;
  const realm = options.realm ?? "session-audit";
  const challenge = (error: string, description: string) =>
    `Bearer realm=${quote(realm)}, error=${quote(error)}, error_description=${quote(description)}`;
  const refuse = (status: 401 | 403, description: string) =>
    status === 401
      ? apiError(401, "unauthorized", description, {
        headers: { "WWW-Authenticate": challenge("invalid_token", description) },
      })
      : apiError(403, "forbidden", description, {
        headers: { "WWW-Authenticate": challenge("insufficient_scope", description) },
      });

  return async function bearerJwtAuth(c, next) {
    if (!tokens.acceptsAny) {
      throw refuse(
        401,
        "API_JWT_SECRET is not configured (nor API_JWKS_URL): the read API accepts no token",
      );
    }
    const header = c.req.header("Authorization");
    if (header === undefined) throw refuse(401, "no bearer token");
    if (header.length > MAX_AUTHORIZATION_LENGTH) {
      throw refuse(
        401,
        `the Authorization header is longer than ${MAX_AUTHORIZATION_LENGTH} characters`,
      );
    }
    const match = BEARER.exec(header);
    if (!match) throw refuse(401, "the Authorization header is not a bearer JWT");
    const verified = await tokens.verify(match[1]);
    if (!verified.ok) throw refuse(401, verified.reason);
    const decision = decideAccess(verified.claims, policy);
    if (!decision.ok) throw refuse(decision.status, decision.reason);
    c.set("auth", decision.scope);
    await next();
  };
}

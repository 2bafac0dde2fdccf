/**
 * Bearer-token authentication of the read API: an HS256 JWT whose claims
 * become the request's {@linkcode AuthScope}, a typed context variable.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { verify } from "hono/jwt";
import * as v from "valibot";
import { apiError } from "./errors.ts";

/** Who is asking: one tenant, or an administrator who reads every tenant. */
export type AuthScope =
  | { kind: "tenant"; tenantId: string }
  | { kind: "admin" };

/** Hono environment of routes behind {@linkcode bearerJwt}. */
export interface AuthEnv {
  Variables: { auth: AuthScope };
}

/** Options of {@linkcode bearerJwt}. */
export interface BearerJwtOptions {
  /** The HS256 secret; without one every request is refused with 401. */
  secret: string | undefined;
  /**
   * The realm named in `WWW-Authenticate`.
   * @default "session-audit"
   */
  realm?: string;
}

/** The only accepted signature algorithm. */
export const JWT_ALGORITHM = "HS256";

const TOKEN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const Claims = v.object({
  exp: v.number("the token has no exp claim"),
  tenant_id: v.optional(v.pipe(v.string(), v.uuid(), v.toLowerCase())),
  role: v.optional(v.unknown()),
});

function quote(text: string): string {
  return `"${text.replace(/["\\]/g, "")}"`;
}

/**
 * Turns verified JWT claims into a scope: `role: "admin"` reads every tenant,
 * a UUID `tenant_id` reads that tenant, anything else reads nothing.
 */
export function scopeFromClaims(claims: unknown): AuthScope | undefined {
  const result = v.safeParse(Claims, claims);
  if (!result.success) return undefined;
  if (result.output.role === "admin") return { kind: "admin" };
  if (result.output.tenant_id) {
    return { kind: "tenant", tenantId: result.output.tenant_id };
  }
  return undefined;
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
 * Middleware that accepts `Authorization: Bearer <JWT>` signed with HS256
 * (`exp` required, `nbf` honoured) and sets the `auth` context variable.
 * Refuses with 401 and `WWW-Authenticate` when the token is missing or bad
 * (or no secret is configured), with 403 when a valid token grants nothing.
 */
export function bearerJwt(
  options: BearerJwtOptions,
): MiddlewareHandler<AuthEnv> {
  const realm = options.realm ?? "session-audit";
  const challenge = (error: string, description: string) =>
    `Bearer realm=${quote(realm)}, error=${quote(error)}, error_description=${quote(description)}`;
  const unauthorized = (description: string) =>
    apiError(401, "unauthorized", description, {
      headers: { "WWW-Authenticate": challenge("invalid_token", description) },
    });

  return async function bearerJwtAuth(c, next) {
    const secret = options.secret;
    if (secret === undefined) {
      throw unauthorized(
        "API_JWT_SECRET is not configured: the read API accepts no token",
      );
    }
    const header = c.req.header("Authorization");
    if (header === undefined) throw unauthorized("no bearer token");
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match || !TOKEN.test(match[1])) {
      throw unauthorized("the Authorization header is not a bearer JWT");
    }
    let claims: unknown;
    try {
      claims = await verify(match[1], secret, { alg: JWT_ALGORITHM });
    } catch {
      throw unauthorized(
        "the token is invalid, expired, not yet valid or not signed with HS256",
      );
    }
    if (typeof claims !== "object" || claims === null || !("exp" in claims)) {
      throw unauthorized("the token has no exp claim");
    }
    const scope = scopeFromClaims(claims);
    if (!scope) {
      const description = "the token carries neither a tenant_id nor the admin role";
      throw apiError(403, "forbidden", description, {
        headers: {
          "WWW-Authenticate": challenge("insufficient_scope", description),
        },
      });
    }
    c.set("auth", scope);
    await next();
  };
}

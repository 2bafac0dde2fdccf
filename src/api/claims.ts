/**
 * The claim mapping: what a verified token's claims let its holder read
 * (every tenant, one tenant, or nothing), under the configured roles.
 *
 * @module
 */
import * as v from "valibot";

/** Who is asking: one tenant, or an administrator who reads every tenant. */
export type AuthScope =
  | { kind: "tenant"; tenantId: string; subject?: string }
  | { kind: "admin"; subject?: string };

/** Which roles read every tenant and which may read at all. */
export interface ClaimPolicy {
  /** Roles that read every tenant (`API_ADMIN_ROLES`). */
  adminRoles: readonly string[];
  /**
   * Roles that may read at all (`API_READ_ROLES`), besides `adminRoles`;
   * `undefined`: any. A token without a `role` claim (this service's own
   * tenant token) is not subject to it.
   */
  readRoles?: readonly string[];
}

/** What the claims allow: a scope, or a refusal (401: not a usable token; 403: it grants nothing). */
export type AccessDecision =
  | { ok: true; scope: AuthScope }
  | { ok: false; status: 401 | 403; reason: string };

const Claims = v.object({
  sub: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(255))),
  type: v.optional(v.unknown()),
  role: v.optional(v.unknown()),
  tenant_id: v.optional(v.unknown()),
});
const TenantId = v.nullable(v.pipe(v.string(), v.uuid(), v.toLowerCase()));

/** The type a token must carry when it says: the platform's refresh tokens carry `refresh`. */
export const ACCESS_TOKEN_TYPE = "access";

/**
 * Decides what verified claims allow, in this order: a `type` other than
 * `access` is refused (401); a role in `adminRoles` reads every tenant; a
 * role outside `readRoles` (when set) reads nothing (403); a UUID `tenant_id`
 * reads that tenant; anything else reads nothing (403).
 */
export function decideAccess(claims: unknown, policy: ClaimPolicy): AccessDecision {
  const parsed = v.safeParse(Claims, claims);
  if (!parsed.success) return refuse(401, "the token's sub claim is not a string");
  const { sub, type, role, tenant_id } = parsed.output;
  if (type !== undefined && type !== ACCESS_TOKEN_TYPE) {
    return refuse(401, `the token is not an access token (type ${JSON.stringify(type)})`);
  }
  const tenant = v.safeParse(TenantId, tenant_id ?? null);
  if (!tenant.success) return refuse(403, "the token's tenant_id is not a UUID");
  const subject = sub === undefined ? {} : { subject: sub };
  if (typeof role === "string" && policy.adminRoles.includes(role)) {
    return { ok: true, scope: { kind: "admin", ...subject } };
  }
  if (policy.readRoles !== undefined && role !== undefined) {
    if (typeof role !== "string" || !policy.readRoles.includes(role)) {
      return refuse(403, `the token's role may not read audit data (role ${JSON.stringify(role)})`);
    }
  }
  if (tenant.output === null) {
    return refuse(403, "the token carries neither a tenant_id nor an administrator role");
  }
  return { ok: true, scope: { kind: "tenant", tenantId: tenant.output, ...subject } };
}

function refuse(status: 401 | 403, reason: string): AccessDecision {
  return { ok: false, status, reason };
}

/**
 * What the read API's routes read from a request: its query parameters
 * (validated, or a 400 naming the parameter), the tenant the caller may
 * read, and the list filter and cursor binding that follow from them.
 *
 * @module
 */
import type { Context } from "hono";
import type { ListFilter } from "../store/queries.ts";
import type { AuthScope } from "./auth.ts";
import { apiError, invalidParameter } from "./errors.ts";
import type { FilterQuery, QueryResult } from "./query.ts";

/** The `Cache-Control` of every answer that carries audit data: kept by no-one but the caller. */
export const PRIVATE = { "Cache-Control": "private, no-store" } as const;

/** The request's query parameters. */
export function searchParams(c: Context): URLSearchParams {
  return new URL(c.req.url).searchParams;
}

/** The value of a parsed query, or a 400 naming the parameter at fault. */
export function valid<T>(result: QueryResult<T>): T {
  if (!result.ok) throw invalidParameter(result.param, `${result.param} ${result.message}`);
  return result.value;
}

/**
 * The tenant a request reads: the token's own for a tenant token (asking
 * for another is a 403), the `tenant_id` parameter or every tenant for an
 * administrator.
 */
export function tenantFor(scope: AuthScope, requested: string | undefined): string | undefined {
  if (scope.kind === "admin") return requested;
  if (requested !== undefined && requested !== scope.tenantId) {
    throw apiError(403, "forbidden", "tenant_id names a tenant this token cannot read", {
      param: "tenant_id",
    });
  }
  return scope.tenantId;
}

/** The list filter of a request: its query's filters, confined by {@linkcode tenantFor}. */
export function listFilter(scope: AuthScope, query: FilterQuery): ListFilter {
  return {
    tenantId: tenantFor(scope, query.tenantId),
    deviceId: query.deviceId,
    userId: query.userId,
    reason: query.reason,
    since: query.since,
    until: query.until,
  };
}

/** The text a list cursor is bound to: the caller's effective tenant and every filter. */
export function cursorBinding(filter: ListFilter): string {
  return JSON.stringify([
    filter.tenantId ?? "*",
    filter.deviceId ?? null,
    filter.userId ?? null,
    filter.reason ?? null,
    filter.since ?? null,
    filter.until ?? null,
  ]);
}

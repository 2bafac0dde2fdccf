/**
 * Reads what bounds the read API and a stop from the environment: the
 * fair-sharing limits (requests in progress, live feeds, a rate per tenant,
 * the heavy queries' time budget) and the shutdown deadline.
 *
 * @module
 */
import { type Env, integer } from "./config_values.ts";

/** How much of the read API one tenant, one token subject and everyone together may take. */
export interface ApiLimits {
  /** `API_MAX_CONCURRENT`: requests in progress, all callers together (live feeds apart). */
  concurrent: number;
  /** `API_MAX_CONCURRENT_PER_TENANT`: requests in progress per tenant (admins count as `*`). */
  concurrentPerTenant: number;
  /** `API_MAX_CONCURRENT_PER_SUBJECT`: requests in progress per token `sub`, when it has one. */
  concurrentPerSubject: number;
  /** `API_MAX_LIVE_FEEDS`: open live feeds, all tenants together. */
  liveFeeds: number;
  /** `API_MAX_LIVE_FEEDS_PER_TENANT`: open live feeds per tenant. */
  liveFeedsPerTenant: number;
  /** `API_RATE_LIMIT_PER_TENANT`: requests per minute per tenant; 0 switches it off. */
  ratePerTenantPerMinute: number;
  /** `API_QUERY_BUDGET_MS`: longest database time of a stats query, an export page or an integrity walk. */
  queryBudgetMs: number;
}

/** The limits of one process. */
export interface LimitsConfig {
  /** `SHUTDOWN_DEADLINE_SECONDS`: longest time from SIGTERM to exit. */
  shutdownDeadlineSeconds: number;
  /** The read API's fair-sharing limits (`API_MAX_*`, `API_RATE_LIMIT_PER_TENANT`, `API_QUERY_BUDGET_MS`). */
  limits: ApiLimits;
}

/**
 * Builds the {@linkcode LimitsConfig} from environment variables.
 *
 * @throws {ConfigError} for the first bad value, naming its variable.
 */
export function parseLimits(env: Env): LimitsConfig {
  return {
    shutdownDeadlineSeconds: integer(env, "SHUTDOWN_DEADLINE_SECONDS", {
      fallback: 20,
      min: 2,
      max: 3_600,
      unit: "seconds",
      note: "keep it below the supervisor's stop timeout",
    }),
    limits: parseApiLimits(env),
  };
}

function parseApiLimits(env: Env): ApiLimits {
  const count = (name: string, fallback: number) =>
    integer(env, name, { fallback, min: 1, max: 100_000 });
  return {
    concurrent: count("API_MAX_CONCURRENT", 32),
    concurrentPerTenant: count("API_MAX_CONCURRENT_PER_TENANT", 4),
    concurrentPerSubject: count("API_MAX_CONCURRENT_PER_SUBJECT", 2),
    liveFeeds: count("API_MAX_LIVE_FEEDS", 64),
    liveFeedsPerTenant: count("API_MAX_LIVE_FEEDS_PER_TENANT", 4),
    ratePerTenantPerMinute: integer(env, "API_RATE_LIMIT_PER_TENANT", {
      fallback: 1_200,
      min: 0,
      max: 1_000_000,
      unit: "requests per minute",
      note: "0: no limit",
    }),
    queryBudgetMs: integer(env, "API_QUERY_BUDGET_MS", {
      fallback: 10_000,
      min: 100,
      max: 600_000,
      unit: "milliseconds",
    }),
  };
}

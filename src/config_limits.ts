/**
 * Reads what bounds the read API and a stop from the environment: the
 * fair-sharing limits (requests in progress, live feeds, a rate per tenant,
 * the heavy queries' time budget) and the shutdown deadline.
 *
 * @module
 */
import { check, type Env, integerIn, read } from "./config_values.ts";

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
    shutdownDeadlineSeconds: check(
      "SHUTDOWN_DEADLINE_SECONDS",
      read(env, "SHUTDOWN_DEADLINE_SECONDS") ?? "20",
      integerIn(2, 3_600, "seconds from 2 to 3600 (keep it below the supervisor's stop timeout)"),
    ),
    limits: parseApiLimits(env),
  };
}

function parseApiLimits(env: Env): ApiLimits {
  const limit = (name: string, fallback: number, min: number, max: number, what: string) =>
    check(name, read(env, name) ?? String(fallback), integerIn(min, max, what));
  const count = (name: string, fallback: number) =>
    limit(name, fallback, 1, 100_000, "an integer from 1 to 100000");
  return {
    concurrent: count("API_MAX_CONCURRENT", 32),
    concurrentPerTenant: count("API_MAX_CONCURRENT_PER_TENANT", 4),
    concurrentPerSubject: count("API_MAX_CONCURRENT_PER_SUBJECT", 2),
    liveFeeds: count("API_MAX_LIVE_FEEDS", 64),
    liveFeedsPerTenant: count("API_MAX_LIVE_FEEDS_PER_TENANT", 4),
    ratePerTenantPerMinute: limit(
      "API_RATE_LIMIT_PER_TENANT",
      1_200,
      0,
      1_000_000,
      "requests per minute from 0 (no limit) to 1000000",
    ),
    queryBudgetMs: limit(
      "API_QUERY_BUDGET_MS",
      10_000,
      100,
      600_000,
      "milliseconds from 100 to 600000",
    ),
  };
}

/**
 * Reads the service's configuration from the environment (SPEC §3) and turns
 * every bad value into a {@linkcode ConfigError} naming the variable.
 *
 * @module
 */
import { type ApiAuthConfig, parseApiAuth } from "./config_auth.ts";
import { ConfigError } from "./config_error.ts";
import { type IntegrityConfig, parseIntegrity } from "./config_integrity.ts";
import { type LimitsConfig, parseLimits } from "./config_limits.ts";
import { type NatsConfig, parseNats } from "./config_nats.ts";
import {
  type Env,
  integer,
  list,
  matching,
  oneOf,
  quoted,
  read,
  secret,
  share,
  url,
} from "./config_values.ts";

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Which halves of the process run (`ROLE`). */
export const ROLES = ["all", "ingest", "api"] as const;
/** One of {@linkcode ROLES}. */
export type Role = typeof ROLES[number];

/**
 * The validated configuration of one process: NATS ({@linkcode NatsConfig}),
 * tamper evidence ({@linkcode IntegrityConfig}), the read API's limits and
 * the shutdown deadline ({@linkcode LimitsConfig}), and the rest here.
 */
export interface Config extends NatsConfig, IntegrityConfig, LimitsConfig {
  /** `DATABASE_URL` */
  databaseUrl: string;
  /** `DATABASE_AUTH_TOKEN` */
  databaseAuthToken?: string;
  /** `DATABASE_SYNC_URL` */
  databaseSyncUrl?: string;
  /** `DATABASE_BUSY_TIMEOUT_MS`: how long a statement waits for another writer's lock. */
  databaseBusyTimeoutMs: number;
  /** `DATABASE_ENCRYPTION_KEY`: encrypts a local database file at rest. */
  databaseEncryptionKey?: string;
  /** `HOST` */
  host: string;
  /** `PORT` */
  port: number;
  /** `API_JWT_SECRET`; without it every `/v1` route answers 401. */
  apiJwtSecret?: string;
  /** `API_CORS_ORIGINS`: origins allowed to call the API from a browser. */
  apiCorsOrigins: string[];
  /** The identity provider's key set, clock leeway, claim mapping and cursor key. */
  apiAuth: ApiAuthConfig;
  /** `LOG_LEVEL` */
  logLevel: LogLevel;
  /** `ROLE` */
  role: Role;
  /** `INGEST_BATCH_SIZE`: messages per transaction (up to 5× behind a backlog, see ingest). */
  ingestBatchSize: number;
  /** `LAG_WARN_SHARE`: share of the stream's 24 h retention after which lag is logged as a warning. */
  lagWarnShare: number;
  /** `RETENTION_DAYS`: session ends older than this are purged; 0 keeps them forever. */
  retentionDays: number;
  /**
   * `CLOCK_SKEW_SECONDS`: how far an `end_time` may lie after the stream
   * received the event before it is flagged as an anomaly (it is kept).
   */
  clockSkewSeconds: number;
}

export { ConfigError };

const HOST = /^[A-Za-z0-9.:[\]-]+$/;
const ORIGIN = /^https?:\/\/[^/\s]+$/;
const DATABASE_SCHEMES = ["file:", "libsql:", "http:", "https:", "ws:", "wss:"];

function parseDatabaseUrl(name: string, raw: string): string {
  const parsed = url(name, raw, DATABASE_SCHEMES, " (try file:data/audit.db)");
  if (parsed.protocol === "file:" && parsed.pathname === "") {
    throw new ConfigError(name, `${quoted(raw)} names no file`);
  }
  return raw;
}

/** Minimum length of `DATABASE_ENCRYPTION_KEY`. */
export const MIN_ENCRYPTION_KEY_LENGTH = 16;
/** Minimum length of `API_JWT_SECRET` (HS256). */
export const MIN_JWT_SECRET_LENGTH = 32;

function parseEncryptionKey(env: Env, databaseUrl: string): string | undefined {
  const key = secret(env, "DATABASE_ENCRYPTION_KEY", MIN_ENCRYPTION_KEY_LENGTH);
  if (key !== undefined && !databaseUrl.startsWith("file:")) {
    throw new ConfigError(
      "DATABASE_ENCRYPTION_KEY",
      "encrypts a local file: DATABASE_URL must be a file: URL (a remote database is encrypted by its server)",
    );
  }
  return key;
}

/**
 * Builds the {@linkcode Config} from environment variables.
 *
 * @param env The environment, `Deno.env.toObject()` in production.
 * @throws {ConfigError} for the first bad value, naming its variable.
 */
export function loadConfig(env: Env): Config {
  const databaseUrl = parseDatabaseUrl(
    "DATABASE_URL",
    read(env, "DATABASE_URL") ?? "file:data/audit.db",
  );
  const syncRaw = read(env, "DATABASE_SYNC_URL");
  const databaseSyncUrl = syncRaw === undefined
    ? undefined
    : parseDatabaseUrl("DATABASE_SYNC_URL", syncRaw);
  if (databaseSyncUrl && !databaseUrl.startsWith("file:")) {
    throw new ConfigError(
      "DATABASE_SYNC_URL",
      "needs DATABASE_URL to be a local file: URL (the embedded replica)",
    );
  }
  const apiJwtSecret = secret(env, "API_JWT_SECRET", MIN_JWT_SECRET_LENGTH);
  const role = oneOf(env, "ROLE", ROLES, "all");
  return {
    ...parseNats(env),
    databaseUrl,
    databaseAuthToken: read(env, "DATABASE_AUTH_TOKEN"),
    databaseEncryptionKey: parseEncryptionKey(env, databaseUrl),
    databaseSyncUrl,
    databaseBusyTimeoutMs: integer(env, "DATABASE_BUSY_TIMEOUT_MS", {
      fallback: 2_000,
      min: 100,
      max: 600_000,
      unit: "milliseconds",
    }),
    host: matching("HOST", read(env, "HOST") ?? "127.0.0.1", HOST, "a host name or IP address"),
    port: integer(env, "PORT", { fallback: 8000, min: 0, max: 65535, unit: "a port" }),
    apiJwtSecret,
    apiCorsOrigins: list(
      env,
      "API_CORS_ORIGINS",
      (name, origin) =>
        matching(name, origin, ORIGIN, "origins that look like https://host[:port]"),
    ) ?? [],
    apiAuth: parseApiAuth(env, apiJwtSecret),
    logLevel: oneOf(env, "LOG_LEVEL", LOG_LEVELS, "info"),
    role,
    ingestBatchSize: integer(env, "INGEST_BATCH_SIZE", { fallback: 500, min: 1, max: 5000 }),
    lagWarnShare: share(env, "LAG_WARN_SHARE", 0.25),
    retentionDays: integer(env, "RETENTION_DAYS", {
      fallback: 365,
      min: 0,
      max: 36_500,
      unit: "days",
      note: "0 keeps them forever",
    }),
    clockSkewSeconds: integer(env, "CLOCK_SKEW_SECONDS", {
      fallback: 300,
      min: 0,
      max: 86_400,
      unit: "seconds",
    }),
    ...parseLimits(env),
    ...parseIntegrity(env, role !== "api"),
  };
}

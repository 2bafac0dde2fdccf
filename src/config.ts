/**
 * Reads the service's configuration from the environment (SPEC §3) and turns
 * every bad value into a {@linkcode ConfigError} naming the variable.
 *
 * @module
 */
import * as v from "valibot";
import { type ApiAuthConfig, parseApiAuth } from "./config_auth.ts";
import { ConfigError } from "./config_error.ts";
import { type IntegrityConfig, parseIntegrity } from "./config_integrity.ts";
import { type LimitsConfig, parseLimits } from "./config_limits.ts";
import { type NatsConfig, parseNats } from "./config_nats.ts";
import { check, type Env, integerIn, quoted, read } from "./config_values.ts";

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

const DATABASE_SCHEMES = ["file:", "libsql:", "http:", "https:", "ws:", "wss:"];

function parseDatabaseUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      name,
      `${quoted(raw)} is not a URL (try file:data/audit.db)`,
    );
  }
  if (!DATABASE_SCHEMES.includes(url.protocol)) {
    throw new ConfigError(
      name,
      `${quoted(raw)} must start with file:, libsql://, http(s):// or ws(s)://`,
    );
  }
  if (url.protocol === "file:" && url.pathname === "") {
    throw new ConfigError(name, `${quoted(raw)} names no file`);
  }
  return raw;
}

/** Minimum length of `DATABASE_ENCRYPTION_KEY`. */
export const MIN_ENCRYPTION_KEY_LENGTH = 16;

function parseEncryptionKey(env: Env, databaseUrl: string): string | undefined {
  const key = env["DATABASE_ENCRYPTION_KEY"] || undefined;
  if (key === undefined) return undefined;
  if (!databaseUrl.startsWith("file:")) {
    throw new ConfigError(
      "DATABASE_ENCRYPTION_KEY",
      "encrypts a local file: DATABASE_URL must be a file: URL (a remote database is encrypted by its server)",
    );
  }
  if (key.length < MIN_ENCRYPTION_KEY_LENGTH) {
    throw new ConfigError(
      "DATABASE_ENCRYPTION_KEY",
      `must be at least ${MIN_ENCRYPTION_KEY_LENGTH} characters: current length is ${key.length}`,
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
  const databaseSyncUrlRaw = read(env, "DATABASE_SYNC_URL");
  const databaseSyncUrl = databaseSyncUrlRaw === undefined
    ? undefined
    : parseDatabaseUrl("DATABASE_SYNC_URL", databaseSyncUrlRaw);
  if (databaseSyncUrl && !databaseUrl.startsWith("file:")) {
    throw new ConfigError(
      "DATABASE_SYNC_URL",
      "needs DATABASE_URL to be a local file: URL (the embedded replica)",
    );
  }
  const apiJwtSecret = env["API_JWT_SECRET"] || undefined;
  if (apiJwtSecret !== undefined && apiJwtSecret.length < 32) {
    throw new ConfigError(
      "API_JWT_SECRET",
      `must be at least 32 characters for HS256: current length is ${apiJwtSecret.length}`,
    );
  }
  const corsRaw = read(env, "API_CORS_ORIGINS");
  const apiCorsOrigins = corsRaw === undefined
    ? []
    : corsRaw.split(",").map((o) => o.trim()).filter(Boolean).map((origin) =>
      check(
        "API_CORS_ORIGINS",
        origin,
        v.pipe(
          v.string(),
          v.regex(
            /^https?:\/\/[^/\s]+$/,
            "each origin must look like https://host[:port]",
          ),
        ),
      )
    );

  return {
    ...parseNats(env),
    databaseUrl,
    databaseAuthToken: read(env, "DATABASE_AUTH_TOKEN"),
    databaseEncryptionKey: parseEncryptionKey(env, databaseUrl),
    databaseSyncUrl,
    databaseBusyTimeoutMs: check(
      "DATABASE_BUSY_TIMEOUT_MS",
      read(env, "DATABASE_BUSY_TIMEOUT_MS") ?? "2000",
      integerIn(100, 600_000, "milliseconds from 100 to 600000"),
    ),
    host: check(
      "HOST",
      read(env, "HOST") ?? "127.0.0.1",
      v.pipe(
        v.string(),
        v.regex(/^[A-Za-z0-9.:[\]-]+$/, "must be a host name or IP address"),
      ),
    ),
    port: check(
      "PORT",
      read(env, "PORT") ?? "8000",
      integerIn(0, 65535, "a port (0-65535)"),
    ),
    apiJwtSecret,
    apiCorsOrigins,
    apiAuth: parseApiAuth(env, apiJwtSecret),
    logLevel: check(
      "LOG_LEVEL",
      (read(env, "LOG_LEVEL") ?? "info").toLowerCase(),
      v.pipe(
        v.string(),
        v.picklist(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(", ")}`),
      ),
    ),
    role: check(
      "ROLE",
      (read(env, "ROLE") ?? "all").toLowerCase(),
      v.pipe(
        v.string(),
        v.picklist(ROLES, `must be one of ${ROLES.join(", ")}`),
      ),
    ),
    ingestBatchSize: check(
      "INGEST_BATCH_SIZE",
      read(env, "INGEST_BATCH_SIZE") ?? "500",
      integerIn(1, 5000, "an integer from 1 to 5000"),
    ),
    lagWarnShare: check(
      "LAG_WARN_SHARE",
      read(env, "LAG_WARN_SHARE") ?? "0.25",
      v.pipe(
        v.string(),
        v.regex(/^(?:0|1|0?\.\d+|1\.0+)$/, "must be a number from 0 to 1"),
        v.transform(Number),
        v.number(),
        v.maxValue(1, "must be a number from 0 to 1"),
      ),
    ),
    retentionDays: check(
      "RETENTION_DAYS",
      read(env, "RETENTION_DAYS") ?? "365",
      integerIn(0, 36_500, "a whole number of days from 0 (keep forever) to 36500"),
    ),
    clockSkewSeconds: check(
      "CLOCK_SKEW_SECONDS",
      read(env, "CLOCK_SKEW_SECONDS") ?? "300",
      integerIn(0, 86_400, "seconds from 0 to 86400"),
    ),
    ...parseLimits(env),
    ...parseIntegrity(env, (read(env, "ROLE") ?? "all").toLowerCase() !== "api"),
  };
}

/**
 * Reads the service's configuration from the environment (SPEC §3) and turns
 * every bad value into a {@linkcode ConfigError} naming the variable.
 *
 * @module
 */
import * as v from "valibot";
import { type ApiAuthConfig, parseApiAuth } from "./config_auth.ts";
import { ConfigError } from "./config_error.ts";
import { caFileProblem, credsFileProblem } from "./config_files.ts";
import { type IntegrityConfig, parseIntegrity } from "./config_integrity.ts";

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Which halves of the process run (`ROLE`). */
export const ROLES = ["all", "ingest", "api"] as const;
/** One of {@linkcode ROLES}. */
export type Role = typeof ROLES[number];

/** How the process authenticates to NATS. */
export type NatsAuth =
  | { kind: "none" }
  | { kind: "token"; token: string }
  | { kind: "userPassword"; user: string; password: string }
  | { kind: "credsFile"; path: string };

/** The validated configuration of one process (signing and the rest of tamper evidence: {@linkcode IntegrityConfig}). */
export interface Config extends IntegrityConfig {
  /** Servers from `NATS_URL`, all of one transport. */
  natsServers: string[];
  /** `websocket` for ws:// and wss://, `tcp` for nats:// and tls://. */
  natsTransport: "websocket" | "tcp";
  natsAuth: NatsAuth;
  /** `NATS_STREAM` */
  stream: string;
  /** `NATS_SUBJECT` */
  subject: string;
  /** `NATS_DURABLE` */
  durable: string;
  /** `DATABASE_URL` */
  databaseUrl: string;
  /** `DATABASE_AUTH_TOKEN` */
  databaseAuthToken?: string;
  /** `DATABASE_SYNC_URL` */
  databaseSyncUrl?: string;
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
  /** `NATS_ACK_WAIT_MS`: how long the server waits for an ack before redelivering. */
  natsAckWaitMs: number;
  /** `RETENTION_DAYS`: session ends older than this are purged; 0 keeps them forever. */
  retentionDays: number;
  /**
   * `CLOCK_SKEW_SECONDS`: how far an `end_time` may lie after the stream
   * received the event before it is flagged as an anomaly (it is kept).
   */
  clockSkewSeconds: number;
  /** `SHUTDOWN_DEADLINE_SECONDS`: longest time from SIGTERM to exit. */
  shutdownDeadlineSeconds: number;
  /** The read API's fair-sharing limits (`API_MAX_*`, `API_RATE_LIMIT_PER_TENANT`, `API_QUERY_BUDGET_MS`). */
  limits: ApiLimits;
}

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

export { ConfigError };

const NATS_SCHEMES = {
  "ws:": "websocket",
  "wss:": "websocket",
  "nats:": "tcp",
  "tls:": "tcp",
} as const;
const DATABASE_SCHEMES = ["file:", "libsql:", "http:", "https:", "ws:", "wss:"];
// NATS subject tokens: no whitespace, no empty token; wildcards only as whole tokens.
const SUBJECT = /^(?:[^.\s*>]+|\*)(?:\.(?:[^.\s*>]+|\*))*(?:\.>)?$|^>$/;
const NAME = /^[A-Za-z0-9_-]{1,255}$/;

type Env = Record<string, string | undefined>;

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === "" ? undefined : value;
}

/** A URL with its user-info (`user:password@`) masked, for error messages. */
function withoutCredentials(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, "$1***@");
}

function quoted(value: string): string {
  return JSON.stringify(value.length > 80 ? value.slice(0, 77) + "..." : value);
}

/** Validates one variable with a valibot schema, turning the first issue into a ConfigError. */
function check<T>(
  name: string,
  raw: string,
  schema: v.GenericSchema<string, T>,
): T {
  const result = v.safeParse(schema, raw);
  if (!result.success) {
    throw new ConfigError(
      name,
      `${result.issues[0].message}: current value is ${quoted(raw)}`,
    );
  }
  return result.output;
}

function integerIn(min: number, max: number, what: string) {
  return v.pipe(
    v.string(),
    v.regex(/^\d+$/, `must be ${what}`),
    v.transform(Number),
    v.number(),
    v.minValue(min, `must be ${what}`),
    v.maxValue(max, `must be ${what}`),
  );
}

function parseNatsServers(
  raw: string,
): Pick<Config, "natsServers" | "natsTransport"> {
  const servers = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (servers.length === 0) {
    throw new ConfigError("NATS_URL", "names no server");
  }
  const transports = new Set<string>();
  for (const server of servers) {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw new ConfigError("NATS_URL", `${quoted(withoutCredentials(server))} is not a URL`);
    }
    const transport = NATS_SCHEMES[url.protocol as keyof typeof NATS_SCHEMES];
    if (!transport) {
      throw new ConfigError(
        "NATS_URL",
        `${quoted(withoutCredentials(server))} must start with ws://, wss://, nats:// or tls://`,
      );
    }
    transports.add(transport);
  }
  if (transports.size > 1) {
    throw new ConfigError(
      "NATS_URL",
      "mixes WebSocket (ws://, wss://) and TCP (nats://, tls://) servers; one process uses one transport",
    );
  }
  return {
    natsServers: servers,
    natsTransport: [...transports][0] as Config["natsTransport"],
  };
}

function parseNatsAuth(env: Env): NatsAuth {
  const token = read(env, "NATS_TOKEN");
  const user = read(env, "NATS_USER");
  const password = env["NATS_PASSWORD"];
  const creds = read(env, "NATS_CREDS_FILE");
  const chosen = [
    token && "NATS_TOKEN",
    user && "NATS_USER",
    creds && "NATS_CREDS_FILE",
  ]
    .filter(Boolean);
  if (chosen.length > 1) {
    throw new ConfigError(
      chosen[1] as string,
      `conflicts with ${chosen[0]}: set only one NATS authentication method`,
    );
  }
  if (password && !user) {
    throw new ConfigError("NATS_PASSWORD", "is set but NATS_USER is not");
  }
  if (token) return { kind: "token", token };
  if (user) return { kind: "userPassword", user, password: password ?? "" };
  if (creds) {
    checkFile("NATS_CREDS_FILE", creds, credsFileProblem);
    return { kind: "credsFile", path: creds };
  }
  return { kind: "none" };
}

/** A file the configuration names that cannot serve: a ConfigError naming `variable`. */
function checkFile(
  variable: string,
  path: string,
  problemOf: (path: string) => string | undefined,
) {
  const problem = problemOf(path);
  if (problem !== undefined) throw new ConfigError(variable, `${quoted(path)} ${problem}`);
}

/**
 * `DENO_CERT` is read by Deno itself (extra CA certificates to trust, such as
 * a private CA in front of `wss://` or `tls://` NATS); checked here because
 * Deno ignores a file it cannot use, and the connection then fails on an
 * untrusted certificate, which is far harder to diagnose.
 */
function checkDenoCert(env: Env): void {
  const path = read(env, "DENO_CERT");
  if (path !== undefined) checkFile("DENO_CERT", path, caFileProblem);
}

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

  checkDenoCert(env);
  return {
    ...parseNatsServers(read(env, "NATS_URL") ?? "ws://127.0.0.1:8080"),
    natsAuth: parseNatsAuth(env),
    stream: check(
      "NATS_STREAM",
      read(env, "NATS_STREAM") ?? "DEVICE_EVENTS",
      v.pipe(
        v.string(),
        v.regex(NAME, "must be a stream name (letters, digits, - and _)"),
      ),
    ),
    subject: check(
      "NATS_SUBJECT",
      read(env, "NATS_SUBJECT") ?? "audit.session.end.>",
      v.pipe(v.string(), v.regex(SUBJECT, "must be a NATS subject")),
    ),
    durable: check(
      "NATS_DURABLE",
      read(env, "NATS_DURABLE") ?? "api-session-audit-consumer",
      v.pipe(
        v.string(),
        v.regex(NAME, "must be a consumer name (letters, digits, - and _)"),
      ),
    ),
    databaseUrl,
    databaseAuthToken: read(env, "DATABASE_AUTH_TOKEN"),
    databaseEncryptionKey: parseEncryptionKey(env, databaseUrl),
    databaseSyncUrl,
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
    natsAckWaitMs: check(
      "NATS_ACK_WAIT_MS",
      read(env, "NATS_ACK_WAIT_MS") ?? "30000",
      integerIn(1_000, 3_600_000, "milliseconds from 1000 to 3600000"),
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
    shutdownDeadlineSeconds: check(
      "SHUTDOWN_DEADLINE_SECONDS",
      read(env, "SHUTDOWN_DEADLINE_SECONDS") ?? "20",
      integerIn(2, 3_600, "seconds from 2 to 3600 (keep it below the supervisor's stop timeout)"),
    ),
    limits: parseApiLimits(env),
    ...parseIntegrity(env, (read(env, "ROLE") ?? "all").toLowerCase() !== "api"),
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

/**
 * Reads the NATS settings from the environment: the servers and their
 * transport, the authentication (a credentials file checked while loading),
 * the consumer's stream, subject and durable name, the ack wait, and
 * `DENO_CERT` (the CA certificates Deno trusts for `wss://` and `tls://`).
 *
 * @module
 */
import { ConfigError } from "./config_error.ts";
import { caFileProblem, credsFileProblem } from "./config_files.ts";
import { type Env, integer, list, matching, quoted, read, url } from "./config_values.ts";

/** How the process authenticates to NATS. */
export type NatsAuth =
  | { kind: "none" }
  | { kind: "token"; token: string }
  | { kind: "userPassword"; user: string; password: string }
  | { kind: "credsFile"; path: string };

/** The NATS settings of one process. */
export interface NatsConfig {
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
  /** `NATS_ACK_WAIT_MS`: how long the server waits for an ack before redelivering. */
  natsAckWaitMs: number;
}

const NATS_SCHEMES = {
  "ws:": "websocket",
  "wss:": "websocket",
  "nats:": "tcp",
  "tls:": "tcp",
} as const;
// NATS subject tokens: no whitespace, no empty token; wildcards only as whole tokens.
const SUBJECT = /^(?:[^.\s*>]+|\*)(?:\.(?:[^.\s*>]+|\*))*(?:\.>)?$|^>$/;
const NAME = /^[A-Za-z0-9_-]{1,255}$/;

function parseNatsServers(env: Env): Pick<NatsConfig, "natsServers" | "natsTransport"> {
  const schemes = Object.keys(NATS_SCHEMES);
  const servers = list(env, "NATS_URL", (name, server) => {
    url(name, server, schemes);
    return server;
  }) ?? ["ws://127.0.0.1:8080"];
  const transports = new Set(
    servers.map((server) => NATS_SCHEMES[new URL(server).protocol as keyof typeof NATS_SCHEMES]),
  );
  if (transports.size > 1) {
    throw new ConfigError(
      "NATS_URL",
      "mixes WebSocket (ws://, wss://) and TCP (nats://, tls://) servers; one process uses one transport",
    );
  }
  return {
    natsServers: servers,
    natsTransport: [...transports][0],
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

/**
 * Builds the {@linkcode NatsConfig} from environment variables.
 *
 * @throws {ConfigError} for the first bad value, naming its variable.
 */
export function parseNats(env: Env): NatsConfig {
  checkDenoCert(env);
  return {
    ...parseNatsServers(env),
    natsAuth: parseNatsAuth(env),
    stream: matching(
      "NATS_STREAM",
      read(env, "NATS_STREAM") ?? "DEVICE_EVENTS",
      NAME,
      "a stream name (letters, digits, - and _)",
    ),
    subject: matching(
      "NATS_SUBJECT",
      read(env, "NATS_SUBJECT") ?? "audit.session.end.>",
      SUBJECT,
      "a NATS subject",
    ),
    durable: matching(
      "NATS_DURABLE",
      read(env, "NATS_DURABLE") ?? "api-session-audit-consumer",
      NAME,
      "a consumer name (letters, digits, - and _)",
    ),
    natsAckWaitMs: integer(env, "NATS_ACK_WAIT_MS", {
      fallback: 30_000,
      min: 1_000,
      max: 3_600_000,
      unit: "milliseconds",
    }),
  };
}

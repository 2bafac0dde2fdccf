/**
 * Why a first connection to NATS failed, decided where the error is born:
 * a refusal that only a change of configuration can cure (the process stops
 * with exit code 2 and one line naming the variable), or a problem that may
 * heal on its own (the process keeps retrying and says why).
 *
 * @module
 */
import { AuthorizationError, UserAuthenticationExpiredError } from "@nats-io/nats-core";
import type { NatsAuth } from "../config_nats.ts";

/** A failure that configuration must fix: stop with exit code 2. */
export interface NatsRefusal {
  kind: "refused";
  /** The variable an operator must change. */
  variable: string;
  /** One line, without secrets. */
  problem: string;
}

/** A failure that may heal without a restart: retry, and report `reason`. */
export interface NatsUnreachable {
  kind: "unreachable";
  /** What `/readyz` and the log say. */
  reason: string;
  /** The certificate problem, when the server's certificate could not be verified. */
  certificate?: string;
}

/** What to do about a failed first connection. */
export type ConnectFailure = NatsRefusal | NatsUnreachable;

/** What the log line of an unverifiable certificate tells the operator to do. */
export const PRIVATE_CA_HINT =
  "if the server's certificate comes from a private CA, give its CA certificate to Deno " +
  "with DENO_CERT=/path/to/ca.pem (see docs/deploy.md)";

// Deno's WebSocket (rustls): "invalid peer certificate: UnknownIssuer", "… NotValidForName", …
const RUSTLS_CERTIFICATE = /invalid peer certificate: ([A-Za-z]+(?:\([^)]*\))?)/;
// Node's TLS (the tcp transport under Deno): error codes and messages.
const NODE_CERTIFICATE =
  /(self[- ]signed certificate[^,;)]*|unable to (?:verify|get local issuer)[^,;)]*|certificate has expired|Hostname\/IP does not match[^,;)]*|ERR_TLS_CERT_ALTNAME_INVALID|CERT_HAS_EXPIRED|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/i;
// A TLS client that met a server speaking plain text (wss:// to a ws:// listener).
const NOT_TLS = /InvalidContentType|wrong version number|packet length too long|unknown protocol/i;

function messagesOf(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    parts.push(current.message);
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") parts.push(code);
    current = current.cause;
  }
  return parts.join(": ") || String(err);
}

function authVariable(auth: NatsAuth): string {
  switch (auth.kind) {
    case "token":
      return "NATS_TOKEN";
    case "userPassword":
      return "NATS_USER/NATS_PASSWORD";
    case "credsFile":
      return "NATS_CREDS_FILE";
    case "none":
      return "NATS_TOKEN, NATS_USER/NATS_PASSWORD or NATS_CREDS_FILE";
  }
}

function authProblem(auth: NatsAuth, servers: string): string {
  switch (auth.kind) {
    case "token":
      return `the NATS server at ${servers} refused the token (Authorization Violation)`;
    case "userPassword":
      return `the NATS server at ${servers} refused user ${
        JSON.stringify(auth.user)
      } or its password (Authorization Violation)`;
    case "credsFile":
      return `the NATS server at ${servers} refused the credentials in ${
        JSON.stringify(auth.path)
      } (Authorization Violation)`;
    case "none":
      return `the NATS server at ${servers} requires authentication and none is set`;
  }
}

/**
 * Classifies the error of a failed first connection.
 *
 * @param err What the NATS client threw.
 * @param auth How the process authenticates (to name the variable at fault).
 * @param servers `NATS_URL` as configured (without credentials), for the message.
 */
export function classifyConnectError(
  err: unknown,
  auth: NatsAuth,
  servers: string,
): ConnectFailure {
  const text = messagesOf(err);
  if (
    err instanceof AuthorizationError || /authorization violation/i.test(text)
  ) {
    return { kind: "refused", variable: authVariable(auth), problem: authProblem(auth, servers) };
  }
  if (err instanceof UserAuthenticationExpiredError || /authentication expired/i.test(text)) {
    return {
      kind: "refused",
      variable: "NATS_CREDS_FILE",
      problem: `the NATS server at ${servers} says the user JWT has expired: issue new credentials`,
    };
  }
  if (/Failed opening CA file|invalid CA certificate|DENO_CERT/i.test(text)) {
    return {
      kind: "refused",
      variable: "DENO_CERT",
      problem: `Deno cannot use the CA file it names: ${text}`,
    };
  }
  const rustls = RUSTLS_CERTIFICATE.exec(text);
  const node = rustls ? null : NODE_CERTIFICATE.exec(text);
  const certificate = rustls?.[1] ?? node?.[1];
  if (certificate !== undefined) {
    return {
      kind: "unreachable",
      certificate,
      reason:
        `the TLS certificate of the NATS server at ${servers} cannot be verified (${certificate})`,
    };
  }
  if (NOT_TLS.test(text)) {
    return {
      kind: "refused",
      variable: "NATS_URL",
      problem:
        `${servers} asks for TLS but the server answered without it (${text}): use ws:// or nats://, or enable TLS on that listener`,
    };
  }
  return { kind: "unreachable", reason: `cannot reach NATS at ${servers}: ${text}` };
}

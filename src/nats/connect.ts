/**
 * The NATS connection: WebSocket gateway (`ws://`, `wss://`) or plain TCP
 * (`nats://`, `tls://`, through the Node transport), authentication, the
 * first connection (retried with growing delays and logged, or refused for
 * good: `refusal.ts`), and reconnecting forever while reporting the link's
 * state.
 *
 * @module
 */
import { credsAuthenticator, wsconnect } from "@nats-io/nats-core";
import type { ConnectionOptions, NatsConnection } from "@nats-io/nats-core";
import { backoffDelay, sleep } from "../backoff.ts";
import { systemTimers, type Timers } from "../clock.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Readiness } from "../readiness.ts";
import { classifyConnectError, type NatsRefusal, PRIVATE_CA_HINT } from "./refusal.ts";

/** Connection options shared by both transports. */
export async function connectionOptions(
  config: Pick<Config, "natsServers" | "natsAuth">,
): Promise<ConnectionOptions> {
  const options: ConnectionOptions = {
    servers: config.natsServers,
    name: "session-audit",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    // The first connection is retried by connectNats, which logs each failure.
    waitOnFirstConnect: false,
    pingInterval: 10_000,
    maxPingOut: 3,
  };
  const auth = config.natsAuth;
  switch (auth.kind) {
    case "token":
      options.token = auth.token;
      break;
    case "userPassword":
      options.user = auth.user;
      options.pass = auth.password;
      break;
    case "credsFile":
      options.authenticator = credsAuthenticator(
        await Deno.readFile(auth.path),
      );
      break;
  }
  return options;
}

/** The NATS server refused us in a way only a configuration change can cure. */
export class NatsRefusedError extends Error {
  /** The variable at fault. */
  readonly variable: string;
  constructor(refusal: NatsRefusal) {
    super(`${refusal.variable}: ${refusal.problem}`);
    this.name = "NatsRefusedError";
    this.variable = refusal.variable;
  }
}

/** Connects once with the transport the URLs name. */
export type Dial = (options: ConnectionOptions) => Promise<NatsConnection>;

/** Only one transport is ever loaded in a process. */
async function dialFor(transport: Config["natsTransport"]): Promise<Dial> {
  if (transport === "websocket") return wsconnect;
  const { connect } = await import("@nats-io/transport-node");
  return connect;
}

/** What {@linkcode connectNats} reports to, and waits on. */
export interface FirstConnectOptions {
  logger: Logger;
  /** `nats` is marked not ready with the reason of each failure. */
  readiness: Readiness;
  /** Stops retrying (the result is then undefined). */
  signal: AbortSignal;
  /**
   * Time between attempts is measured on these.
   * @default systemTimers
   */
  timers?: Timers;
  /**
   * Connects once (tests pass their own).
   * @default the transport's connect
   */
  dial?: Dial;
}

/** `NATS_URL` as it may be logged: the servers without their user-info. */
export function shownServers(servers: string[]): string {
  return servers.map((s) => s.replace(/^([a-z]+:\/\/)[^@/]*@/i, "$1***@")).join(",");
}

/** Delays between first-connection attempts: 0.5 s doubling to 30 s. */
const FIRST_CONNECT_BACKOFF = { baseMs: 500, maxMs: 30_000 };

/**
 * Connects to NATS. A failure that may heal (server down, network, an
 * unverifiable certificate) is logged with the next delay, reported by
 * `/readyz`, and retried with growing delays until `signal` aborts
 * (resolving to undefined). A refusal (bad credentials, TLS on the wrong
 * side) throws a {@linkcode NatsRefusedError} naming the variable.
 */
export async function connectNats(
  config: Pick<Config, "natsServers" | "natsAuth" | "natsTransport">,
  options: FirstConnectOptions,
): Promise<NatsConnection | undefined> {
  const { logger, readiness, signal, timers = systemTimers } = options;
  const dial = options.dial ?? await dialFor(config.natsTransport);
  const natsUrl = shownServers(config.natsServers);
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      return await unlessAborted(dial(await connectionOptions(config)), signal);
    } catch (err) {
      const failure = classifyConnectError(err, config.natsAuth, natsUrl);
      if (failure.kind === "refused") throw new NatsRefusedError(failure);
      const retryInMs = backoffDelay(attempt, FIRST_CONNECT_BACKOFF);
      readiness.fail("nats", failure.reason);
      const fields = { nats_url: natsUrl, attempt: attempt + 1, retry_in_ms: retryInMs };
      if (failure.certificate !== undefined) {
        logger.error(`nats certificate cannot be verified: ${PRIVATE_CA_HINT}`, {
          ...fields,
          certificate_problem: failure.certificate,
        });
      } else {
        logger.warn("nats unreachable; retrying", { ...fields, error: failure.reason });
      }
      await sleep(retryInMs, signal, timers);
    }
  }
  return undefined;
}

/** The connection, or undefined when `signal` aborts first (a late one is closed). */
async function unlessAborted(
  connecting: Promise<NatsConnection>,
  signal: AbortSignal,
): Promise<NatsConnection | undefined> {
  let onAbort = () => {};
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const nc = await Promise.race([connecting, aborted]);
    if (nc === undefined) connecting.then((late) => late.close()).catch(() => {});
    return nc;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Follows the connection's status until it closes: logs disconnects and
 * reconnects, marks NATS (not) ready, counts reconnections.
 */
export async function watchConnection(
  nc: NatsConnection,
  logger: Logger,
  readiness: Readiness,
  metrics: Metrics,
): Promise<void> {
  readiness.ok("nats");
  logger.info("nats connected", { server: nc.getServer() });
  for await (const status of nc.status()) {
    switch (status.type) {
      case "disconnect":
        readiness.fail("nats", `disconnected from ${status.server}`);
        logger.warn("nats disconnected", { server: status.server });
        break;
      case "reconnect":
        readiness.ok("nats");
        metrics.add("session_audit_nats_reconnects_total", 1);
        logger.info("nats reconnected", { server: status.server });
        break;
      case "error":
        logger.error("nats error", { error: status.error });
        break;
      case "ldm":
        logger.warn("nats server entering lame duck mode", {
          server: status.server,
        });
        break;
      case "staleConnection":
        logger.warn("nats connection stale");
        break;
      default:
        logger.debug("nats status", { status: status.type });
    }
  }
  readiness.fail("nats", "connection closed");
}

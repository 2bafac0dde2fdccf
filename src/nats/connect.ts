/**
 * The NATS connection: WebSocket gateway (`ws://`, `wss://`) or plain TCP
 * (`nats://`, `tls://`, through the Node transport), authentication, and
 * reconnecting forever while reporting the link's state.
 *
 * @module
 */
import { credsAuthenticator, wsconnect } from "@nats-io/nats-core";
import type { ConnectionOptions, NatsConnection } from "@nats-io/nats-core";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Readiness } from "../readiness.ts";

/** Connection options shared by both transports. */
export async function connectionOptions(
  config: Pick<Config, "natsServers" | "natsAuth">,
): Promise<ConnectionOptions> {
  const options: ConnectionOptions = {
    servers: config.natsServers,
    name: "session-audit",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    waitOnFirstConnect: true,
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

/**
 * Connects with the transport the URLs name, retrying until the first
 * connection succeeds. Only one transport is ever loaded in a process.
 */
export async function connectNats(
  config: Pick<Config, "natsServers" | "natsAuth" | "natsTransport">,
): Promise<NatsConnection> {
  const options = await connectionOptions(config);
  if (config.natsTransport === "websocket") return await wsconnect(options);
  const { connect } = await import("@nats-io/transport-node");
  return await connect(options);
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

/**
 * The session-audit process: reads the configuration, opens the database,
 * serves the HTTP API and runs the ingest loop, and shuts all of it down in
 * order on SIGINT or SIGTERM.
 *
 * @module
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createApp } from "./api/app.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { runIngest } from "./ingest/pipeline.ts";
import { watchLag } from "./nats/lag.ts";
import { createLogger, type Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { connectNats, NatsRefusedError, watchConnection } from "./nats/connect.ts";
import { Readiness } from "./readiness.ts";
import { runRetention } from "./retention.ts";
import { Database, DatabaseKeyError } from "./store/client.ts";
import { startIntegrityWork } from "./integrity/background.ts";
import { type Keyring, keyringFrom } from "./integrity/keyring.ts";
import { migrate } from "./store/migrations.ts";
import { StoredSignal } from "./store/stored_signal.ts";
import { shutdownDeadline } from "./shutdown.ts";
import { settledBefore } from "./until_aborted.ts";

/** Exit code for a configuration that stops start-up. */
export const EXIT_CONFIG = 2;
/** Exit code for a dependency that cannot be set up at start (database), or ingest failing unexpectedly or not stopping within the shutdown deadline. */
export const EXIT_STARTUP = 1;

function onShutdownSignal(controller: AbortController, logger: Logger): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      if (controller.signal.aborted) return;
      logger.info("shutting down", { signal });
      controller.abort();
    });
  }
}

/** Runs the service until a shutdown signal; resolves to the exit code. */
export async function main(
  env: Record<string, string> = Deno.env.toObject(),
): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`session-audit: configuration error: ${err.message}`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  let keyring: Keyring;
  try {
    keyring = await keyringFrom(config.signing);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`session-audit: configuration error: ${err.message}`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const metrics = new Metrics();
  const ingests = config.role !== "api";
  const readiness = new Readiness(
    ingests ? { nats: "connecting to NATS", consumer: "consumer not bound yet" } : {},
  );
  const shutdown = new AbortController();
  // Rung by the ingest loop after each commit that stored rows; live feeds wait on it.
  const stored = new StoredSignal();
  onShutdownSignal(shutdown, logger);

  let db: Database;
  try {
    db = await Database.open(config);
    const applied = await migrate(db.client);
    if (applied.length > 0) {
      logger.info("database migrated", { versions: applied });
    }
  } catch (err) {
    if (err instanceof DatabaseKeyError) {
      console.error(`session-audit: configuration error: ${err.message}`);
      return EXIT_CONFIG;
    }
    logger.error("cannot open the database", {
      database: redact(config.databaseUrl),
      error: err,
    });
    console.error(
      `session-audit: cannot open the database ${redact(config.databaseUrl)}: ${
        (err as Error).message
      }`,
    );
    return EXIT_STARTUP;
  }

  // From SIGTERM: long responses until the cut-off, everything until the deadline.
  const deadline = shutdownDeadline(shutdown.signal, config.shutdownDeadlineSeconds * 1000);
  const integrity = startIntegrityWork(
    { config, db, keyring, metrics, logger, writes: ingests },
    shutdown.signal,
  );
  // Every role serves the operational routes; the read API is the app's to mount.
  const app = createApp({
    config,
    db,
    readiness,
    metrics,
    logger,
    keyring,
    checkpointCopy: integrity.copy,
    stored,
    shutdown: shutdown.signal,
    cutoff: deadline.cutoff,
  });
  const server = Deno.serve({
    hostname: config.host,
    port: config.port,
    onListen: ({ hostname, port }) => logger.info("http listening", { host: hostname, port }),
  }, app.fetch);

  let nc: NatsConnection | undefined;
  let exitCode = 0;
  let ingest: Promise<void> | undefined;
  const work: Promise<void>[] = [];
  if (ingests) {
    // Retention and checkpoints write: only the roles that ingest run them, not ROLE=api replicas.
    work.push(
      runRetention({ db, days: config.retentionDays, metrics, logger, keyring }, shutdown.signal),
    );
    logger.info("connecting to nats", {
      servers: config.natsServers,
      transport: config.natsTransport,
    });
    try {
      nc = await connectNats(config, { logger, readiness, signal: shutdown.signal });
    } catch (err) {
      if (!(err instanceof NatsRefusedError)) throw err;
      console.error(`session-audit: configuration error: ${err.message}`);
      exitCode = EXIT_CONFIG;
      shutdown.abort();
    }
    if (nc) {
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      const js = jetstream(nc);
      integrity.attachNats(js, jsm);
      const consumer = {
        stream: config.stream,
        durable: config.durable,
        subject: config.subject,
        ackWaitMs: config.natsAckWaitMs,
      };
      work.push(watchConnection(nc, logger, readiness, metrics));
      work.push(
        watchLag(jsm, consumer, metrics, shutdown.signal, {
          logger,
          warnShare: config.lagWarnShare,
        }),
      );
      ingest = runIngest({
        js,
        jsm,
        db,
        consumer,
        batchSize: config.ingestBatchSize,
        skewMs: config.clockSkewSeconds * 1000,
        logger,
        metrics,
        readiness,
        onStored: () => stored.notify(),
      }, shutdown.signal).catch((err) => {
        // Not a clean stop: exit non-zero so a supervisor restarts the process.
        logger.error("ingest stopped unexpectedly", { error: err });
        exitCode = EXIT_STARTUP;
        shutdown.abort();
      });
    }
  }
  await new Promise<void>((resolve) => {
    if (shutdown.signal.aborted) resolve();
    shutdown.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  // No new connections from now on; open responses go on until the cut-off.
  const serverClosed = server.shutdown();

  // Ingest commits and acks what it had, then the rest lets go, all within the deadline.
  if (ingest && !await settledBefore(ingest, deadline.passed)) {
    logger.error(
      "ingest did not stop within the shutdown deadline; unacknowledged messages will be redelivered",
      {
        deadline_seconds: config.shutdownDeadlineSeconds,
      },
    );
    exitCode = EXIT_STARTUP;
  }
  if (nc) {
    const drained = nc.drain().catch((err) => logger.warn("nats drain failed", { error: err }));
    await settledBefore(drained, deadline.passed);
  }
  await settledBefore(Promise.allSettled([...work, integrity.done]), deadline.passed);
  if (!await settledBefore(serverClosed, deadline.passed)) {
    logger.warn("shutdown deadline reached: open HTTP responses are cut", {
      deadline_seconds: config.shutdownDeadlineSeconds,
    });
  }
  deadline.dispose();
  db.close();
  logger.info("stopped", { exit_code: exitCode });
  return exitCode;
}

/** A database URL without credentials, for logs. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@").replace(
    /([?&](?:authToken|token)=)[^&]*/gi,
    "$1***",
  );
}

if (import.meta.main) {
  Deno.exit(await main());
}

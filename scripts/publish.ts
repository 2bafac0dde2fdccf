/**
 * `deno task publish`: the poller simulator's command line. Publishes
 * realistic session ends (and some other device traffic) to `DEVICE_EVENTS`
 * with `js.publish`, at a steady rate or as fast as possible, then prints a
 * summary. The connection comes from the service's own environment
 * variables (`NATS_URL`, `NATS_TOKEN`, `NATS_USER`/`NATS_PASSWORD`,
 * `NATS_CREDS_FILE`). Run with `--help` for the options.
 *
 * @module
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { wsconnect } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/nats-core";
import { ConfigError, loadConfig } from "../src/config.ts";
import { connectionOptions } from "../src/nats/connect.ts";
import {
  DEVICE_EVENTS_STREAM,
  ensureDeviceEventsStream,
  generateSessionEnds,
  type SimulatedMessage,
} from "./simulator.ts";

/** Most publishes awaiting their acknowledgement at once. */
export const MAX_IN_FLIGHT = 256;

/** The command line, parsed. */
export interface PublishOptions {
  /** Messages to publish; 0 publishes until interrupted. @default 100 */
  count: number;
  /** Messages per second; 0 is as fast as {@linkcode MAX_IN_FLIGHT} allows. @default 20 */
  rate: number;
  /** @default 3 */
  tenants: number;
  /** Routers per tenant. @default 5 */
  devices: number;
  /** Users per tenant. @default 4 */
  users: number;
  /** Share of malformed session ends (quarantined), 0..1. @default 0.02 */
  malformed: number;
  /** Share of session ends with an unusable secondary field (stored with an anomaly), 0..1. @default 0.02 */
  anomalous: number;
  /** Share of sessions ending with the idle_timeout + normal pair, 0..1. @default 0.1 */
  idlePairs: number;
  /** Share of messages on other stream subjects, 0..1. @default 0.05 */
  other: number;
  /** Seed of the generator. @default a random one, printed in the summary */
  seed?: string;
  /** Create DEVICE_EVENTS with the poller's configuration when it is absent. @default false */
  createStream: boolean;
  /** Print only the summary and errors. @default false */
  quiet: boolean;
  /** Print the usage and exit. @default false */
  help: boolean;
}

/** The usage text. */
export const USAGE = `usage: deno task publish [options]
  --count N         messages to publish, 0 = until Ctrl-C      (default 100)
  --rate R          messages per second, 0 = as fast as possible (default 20)
  --tenants T       tenants                                    (default 3)
  --devices D       routers per tenant                         (default 5)
  --users U         users per tenant                           (default 4)
  --malformed F     share of malformed session ends, 0..1      (default 0.02)
  --anomalous F     share of session ends with an anomaly, 0..1 (default 0.02)
  --idle-pairs F    share of idle_timeout + normal pairs, 0..1 (default 0.1)
  --other F         share of other device traffic, 0..1       (default 0.05)
  --seed S          seed, for the same ids and choices again   (default random)
  --create-stream   create DEVICE_EVENTS (the poller's config) if absent
  --quiet           print only the summary and errors
environment: NATS_URL (default ws://127.0.0.1:8080), NATS_TOKEN, NATS_USER + NATS_PASSWORD, NATS_CREDS_FILE`;

/** A bad command line; the message is one line naming the option and its value. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

type NumericOption = "count" | "rate" | "tenants" | "devices" | "users";
type ShareOption = "malformed" | "anomalous" | "idlePairs" | "other";

const INTEGERS: Record<string, [NumericOption, number]> = {
  "--count": ["count", 0],
  "--rate": ["rate", 0],
  "--tenants": ["tenants", 1],
  "--devices": ["devices", 1],
  "--users": ["users", 1],
};
const SHARES: Record<string, ShareOption> = {
  "--malformed": "malformed",
  "--anomalous": "anomalous",
  "--idle-pairs": "idlePairs",
  "--other": "other",
};

/**
 * Parses the command line (`--name value` or `--name=value`).
 *
 * @throws {UsageError} for an unknown option, a missing or bad value.
 */
export function parsePublishArgs(args: readonly string[]): PublishOptions {
  const options: PublishOptions = {
    count: 100,
    rate: 20,
    tenants: 3,
    devices: 5,
    users: 4,
    malformed: 0.02,
    anomalous: 0.02,
    idlePairs: 0.1,
    other: 0.05,
    createStream: false,
    quiet: false,
    help: false,
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].startsWith("--") && args[i].includes("=")
      ? [args[i].slice(0, args[i].indexOf("=")), args[i].slice(args[i].indexOf("=") + 1)]
      : [args[i], undefined];
    const value = () => {
      const text = inline ?? args[++i];
      if (text === undefined) throw new UsageError(`'${flag}' needs a value`);
      return text;
    };
    if (flag === "--create-stream" || flag === "--quiet" || flag === "--help" || flag === "-h") {
      if (inline !== undefined) throw new UsageError(`'${flag}' takes no value`);
      if (flag === "--create-stream") options.createStream = true;
      else if (flag === "--quiet") options.quiet = true;
      else options.help = true;
    } else if (flag in INTEGERS) {
      const [key, min] = INTEGERS[flag];
      const text = value();
      const number = key === "rate" ? Number(text) : Number.parseInt(text, 10);
      const valid = /^\d+(\.\d+)?$/.test(text) && (key === "rate" || /^\d+$/.test(text));
      if (!valid || number < min) {
        throw new UsageError(
          `'${flag}' must be ${key === "rate" ? "a number" : "an integer"} >= ${min}: ` +
            `current value is ${JSON.stringify(text)}`,
        );
      }
      options[key] = number;
    } else if (flag in SHARES) {
      const text = value();
      const number = Number(text);
      if (text.trim() === "" || !(number >= 0 && number <= 1)) {
        throw new UsageError(
          `'${flag}' must be a number from 0 to 1: current value is ${JSON.stringify(text)}`,
        );
      }
      options[SHARES[flag]] = number;
    } else if (flag === "--seed") {
      options.seed = value();
    } else {
      throw new UsageError(`unknown option ${JSON.stringify(args[i])} (see --help)`);
    }
  }
  return options;
}

/** Counts kept while publishing. */
export interface PublishTally {
  valid: number;
  /** Distinct sessions among the valid ones (the second of an idle pair repeats one). */
  sessions: number;
  idlePairs: number;
  /** Session ends stored with an anomaly. */
  anomalous: number;
  malformed: number;
  other: number;
  failed: number;
}

/** One line describing a run. */
export function formatSummary(tally: PublishTally, elapsedMs: number, seed: string): string {
  const published = tally.valid + tally.anomalous + tally.malformed + tally.other;
  const seconds = elapsedMs / 1000;
  const rate = seconds > 0 ? published / seconds : 0;
  return `published ${published} messages in ${seconds.toFixed(2)} s (${rate.toFixed(1)}/s): ` +
    `${tally.valid} valid session ends (${tally.sessions} sessions, ${tally.idlePairs} idle pairs), ` +
    `${tally.anomalous} with an anomaly, ${tally.malformed} malformed, ${tally.other} other; ` +
    `${tally.failed} failed; seed ${seed}`;
}

/** Connects with the transport the URLs name; a nats:// URL loads the Node transport only then. */
async function connect(env: Record<string, string>): Promise<{ nc: NatsConnection; url: string }> {
  const pick = ["NATS_URL", "NATS_TOKEN", "NATS_USER", "NATS_PASSWORD", "NATS_CREDS_FILE"];
  const config = loadConfig(Object.fromEntries(pick.flatMap((k) => k in env ? [[k, env[k]]] : [])));
  const options = {
    ...await connectionOptions(config),
    name: "session-audit-simulator",
    waitOnFirstConnect: false,
  };
  const url = config.natsServers.join(",");
  if (config.natsTransport === "websocket") return { nc: await wsconnect(options), url };
  const { connect } = await import("@nats-io/transport-node");
  return { nc: await connect(options), url };
}

function isNoStream(err: unknown): boolean {
  return err instanceof Error && /jetstream is not enabled|no responders/i.test(err.message);
}

/** Runs the command line; resolves to the exit code. */
export async function main(
  args: readonly string[] = Deno.args,
  env: Record<string, string> = Deno.env.toObject(),
): Promise<number> {
  let options: PublishOptions;
  try {
    options = parsePublishArgs(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`publish: ${err.message}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const seed = options.seed ?? String(crypto.getRandomValues(new Uint32Array(1))[0]);
  let nc: NatsConnection;
  let url: string;
  try {
    ({ nc, url } = await connect(env));
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : (err as Error).message;
    console.error(`publish: cannot connect to NATS: ${message}`);
    return err instanceof ConfigError ? 2 : 1;
  }

  const stopping = new AbortController();
  const stop = () => {
    if (stopping.signal.aborted) Deno.exit(130); // second Ctrl-C: leave at once
    stopping.abort();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop);

  try {
    if (options.createStream) {
      const { created } = await ensureDeviceEventsStream(await jetstreamManager(nc));
      if (!options.quiet) {
        console.error(
          `publish: stream ${DEVICE_EVENTS_STREAM.name} ${created ? "created" : "already exists"}`,
        );
      }
    }
    const js = jetstream(nc);
    const messages = generateSessionEnds({
      seed,
      tenants: options.tenants,
      devicesPerTenant: options.devices,
      usersPerTenant: options.users,
      malformedShare: options.malformed,
      anomalousShare: options.anomalous,
      idlePairShare: options.idlePairs,
      otherShare: options.other,
    });
    if (!options.quiet) {
      console.error(
        `publish: ${options.count || "unlimited"} messages at ${
          options.rate || "max"
        }/s to ${url} (Ctrl-C stops)`,
      );
    }
    const tally: PublishTally = {
      valid: 0,
      sessions: 0,
      idlePairs: 0,
      anomalous: 0,
      malformed: 0,
      other: 0,
      failed: 0,
    };
    const inFlight = new Set<Promise<void>>();
    let fatal: string | undefined;
    let lastErrorAt = 0;
    const record = (message: SimulatedMessage) => {
      tally[message.kind]++;
      if (message.kind === "valid" && !message.repeat) tally.sessions++;
      if (message.repeat) tally.idlePairs++;
    };
    const fail = (message: SimulatedMessage, err: unknown) => {
      tally.failed++;
      const published = tally.valid + tally.anomalous + tally.malformed + tally.other;
      if (isNoStream(err) && published === 0) {
        fatal = `no stream takes ${message.subject}: create ${DEVICE_EVENTS_STREAM.name} ` +
          `(run with --create-stream) or start the poller`;
        stopping.abort();
      } else if (Date.now() - lastErrorAt > 1_000) {
        lastErrorAt = Date.now();
        console.error(`publish: ${message.subject}: ${(err as Error).message}`);
      }
    };

    const started = performance.now();
    let lastProgress = started;
    for (let i = 0; options.count === 0 || i < options.count; i++) {
      if (options.rate > 0) {
        const wait = started + (i * 1000) / options.rate - performance.now();
        if (wait > 0) await sleep(wait, stopping.signal);
      }
      while (inFlight.size >= MAX_IN_FLIGHT && !stopping.signal.aborted) {
        await Promise.race(inFlight);
      }
      if (stopping.signal.aborted) break;
      const message = messages.next().value;
      const publishing = js.publish(message.subject, message.payload).then(
        () => record(message),
        (err) => fail(message, err),
      ).finally(() => inFlight.delete(publishing));
      inFlight.add(publishing);
      if (!options.quiet && performance.now() - lastProgress > 10_000) {
        lastProgress = performance.now();
        console.error(`publish: ${formatSummary(tally, lastProgress - started, seed)}`);
      }
    }
    await Promise.all(inFlight);
    const elapsed = performance.now() - started;
    if (fatal) {
      console.error(`publish: ${fatal}`);
      return 1;
    }
    console.log(formatSummary(tally, elapsed, seed));
    return tally.failed > 0 ? 1 : 0;
  } finally {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.removeSignalListener(signal, stop);
    }
    await nc.drain().catch(() => nc.close());
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

if (import.meta.main) {
  Deno.exit(await main());
}

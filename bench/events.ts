/**
 * The benchmark's data: session-end messages as the poller publishes them
 * (from the simulator), the stream they go to, and ready-made rows for
 * filling the store without NATS.
 *
 * @module
 */
import { decodeSessionEnd, NO_ANOMALIES } from "../src/event.ts";
import type { IncomingSessionEnd } from "../src/store/session_end_sql.ts";
import { DEVICE_EVENTS_STREAM, generateSessionEnds } from "../scripts/simulator.ts";

/** One message to publish. */
export interface BenchMessage {
  subject: string;
  payload: Uint8Array;
}

/**
 * The poller's stream with a larger byte cap. At about 420 bytes a message
 * on disk, the poller's 64 MiB holds roughly 160,000 session ends; with
 * DiscardOld a larger backlog would silently lose its oldest part, so the
 * benchmark lifts the cap (everything else is the poller's configuration).
 */
export const BENCH_STREAM = Object.freeze({
  ...DEVICE_EVENTS_STREAM,
  max_bytes: 1024 * 1024 * 1024,
});

/** Options for {@linkcode sessionEndMessages}. */
export interface MessageOptions {
  /** Number of session-end messages. */
  count: number;
  /** Seed of the simulator. @default "bench" */
  seed?: string;
  /** @default 20 */
  tenants?: number;
  /** @default 50 */
  devicesPerTenant?: number;
}

/**
 * `count` session-end messages with the simulator's realistic mix: about
 * 2 % malformed and 10 % of sessions ending with the idle-timeout pair (so
 * some duplicates), no traffic on the stream's other subjects.
 */
export function sessionEndMessages(options: MessageOptions): BenchMessage[] {
  const generator = generateSessionEnds({
    seed: options.seed ?? "bench",
    tenants: options.tenants ?? 20,
    devicesPerTenant: options.devicesPerTenant ?? 50,
    usersPerTenant: 40,
    otherShare: 0,
  });
  const messages: BenchMessage[] = [];
  for (const message of generator) {
    messages.push({ subject: message.subject, payload: message.payload });
    if (messages.length === options.count) break;
  }
  return messages;
}

/** The valid messages of `messages` decoded into rows, as the pipeline would store them. */
export function rowsOf(messages: BenchMessage[], receivedAt = Date.now()): IncomingSessionEnd[] {
  const rows: IncomingSessionEnd[] = [];
  messages.forEach((message, i) => {
    const result = decodeSessionEnd(message.payload, { receivedAt });
    if (result.ok) {
      rows.push({
        event: result.event,
        stream: BENCH_STREAM.name,
        streamSeq: i + 1,
        subject: message.subject,
        payload: message.payload,
        receivedAt,
      });
    }
  });
  return rows;
}

const NO_PAYLOAD = new Uint8Array(0);

/** A fleet of tenants with their devices, for {@linkcode syntheticRows}. */
export interface Fleet {
  tenants: { id: string; devices: string[]; users: string[] }[];
}

/** Creates `tenants` × `devicesPerTenant` random ids. */
export function createFleet(tenants: number, devicesPerTenant: number): Fleet {
  return {
    tenants: Array.from({ length: tenants }, () => ({
      id: crypto.randomUUID(),
      devices: Array.from({ length: devicesPerTenant }, () => crypto.randomUUID()),
      users: Array.from({ length: 40 }, () => crypto.randomUUID()),
    })),
  };
}

const REASONS = [
  "normal",
  "normal",
  "normal",
  "normal",
  "normal",
  "normal",
  "idle_timeout",
  "shutdown",
];

const zipfTables = new Map<number, Float64Array>();

/**
 * An index in [0, n) with probability proportional to 1 / (index + 1): a
 * fleet's SSH sessions cluster on a few core routers, so index 0 (about a
 * fifth of a 50-device tenant's sessions) is the busiest device.
 */
export function zipf(n: number): number {
  let cumulative = zipfTables.get(n);
  if (!cumulative) {
    cumulative = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) cumulative[i] = sum += 1 / (i + 1);
    for (let i = 0; i < n; i++) cumulative[i] /= sum;
    zipfTables.set(n, cumulative);
  }
  const u = Math.random();
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `count` rows spread over the fleet's tenants evenly and over each
 * tenant's devices by {@linkcode zipf}, ending one every `stepMs` from
 * `firstEndMs` on (so in arrival order, as a live feed would store them).
 */
export function syntheticRows(
  fleet: Fleet,
  count: number,
  firstEndMs: number,
  stepMs: number,
  firstSeq: number,
): IncomingSessionEnd[] {
  const rows: IncomingSessionEnd[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const tenant = fleet.tenants[Math.floor(Math.random() * fleet.tenants.length)];
    const endTime = firstEndMs + i * stepMs;
    const duration = 2 + Math.floor(Math.random() * 3600);
    const sessionId = crypto.randomUUID();
    rows[i] = {
      event: {
        sessionId,
        tenantId: tenant.id,
        deviceId: tenant.devices[zipf(tenant.devices.length)],
        userId: tenant.users[Math.floor(Math.random() * tenant.users.length)],
        startTime: endTime - duration * 1000,
        endTime,
        durationSeconds: duration,
        sourceIp: `10.${i % 256}.${(i >> 8) % 256}.${1 + (i % 254)}`,
        sourcePort: null,
        reason: REASONS[i % REASONS.length],
        anomalies: NO_ANOMALIES,
      },
      stream: BENCH_STREAM.name,
      streamSeq: firstSeq + i,
      subject: `audit.session.end.${sessionId}`,
      payload: NO_PAYLOAD,
      receivedAt: endTime,
    };
  }
  return rows;
}

/**
 * A simulated fleet poller: the stream it creates (`DEVICE_EVENTS`) and a
 * deterministic generator of the messages it publishes — session ends (valid,
 * idle-timeout pairs, anomalous, malformed) and, now and then, other device
 * traffic.
 * Pure except {@linkcode ensureDeviceEventsStream}; the CLI is `publish.ts`.
 *
 * @module
 */
import { nanos } from "@nats-io/nats-core";
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import type { JetStreamManager, StreamConfig, StreamInfo } from "@nats-io/jetstream";

/** Subject prefix of session ends; the session id follows it. */
export const SESSION_END_SUBJECT_PREFIX = "audit.session.end.";

/** The stream exactly as the poller creates it (SPEC §1). */
export const DEVICE_EVENTS_STREAM: Readonly<
  Pick<
    StreamConfig,
    | "name"
    | "subjects"
    | "retention"
    | "max_age"
    | "max_bytes"
    | "discard"
    | "storage"
    | "num_replicas"
  >
> = Object.freeze({
  name: "DEVICE_EVENTS",
  subjects: [
    "device.status.>",
    "device.metrics.>",
    "device.interfaces.>",
    "device.firmware.>",
    "device.credential_changed.>",
    "config.changed.>",
    "config.snapshot.>",
    "config.push.rollback.>",
    "config.push.alert.>",
    "audit.session.end.>",
  ],
  retention: RetentionPolicy.Limits,
  max_age: nanos(24 * 60 * 60 * 1000),
  max_bytes: 64 * 1024 * 1024,
  discard: DiscardPolicy.Old,
  storage: StorageType.File,
  num_replicas: 1,
});

/** What {@linkcode ensureDeviceEventsStream} found or did. */
export interface EnsureStreamResult {
  /** True when the stream was missing and has been created. */
  created: boolean;
  /** The stream as the server now has it (an existing one is left as it is). */
  info: StreamInfo;
}

/**
 * Creates `DEVICE_EVENTS` with the poller's configuration when it is absent;
 * an existing stream is left untouched, whatever its configuration.
 *
 * @param jsm A JetStream manager on the target server.
 * @param config The stream to create. @default DEVICE_EVENTS_STREAM
 */
export async function ensureDeviceEventsStream(
  jsm: JetStreamManager,
  config: Readonly<Pick<StreamConfig, "name" | "subjects">> & Partial<StreamConfig> =
    DEVICE_EVENTS_STREAM,
): Promise<EnsureStreamResult> {
  try {
    return { created: false, info: await jsm.streams.info(config.name) };
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) {
      throw err;
    }
  }
  try {
    return { created: true, info: await jsm.streams.add({ ...config }) };
  } catch (err) {
    // Created concurrently by someone else (10058: name already in use): keep theirs.
    if (err instanceof JetStreamApiError && err.code === 10058) {
      return { created: false, info: await jsm.streams.info(config.name) };
    }
    throw err;
  }
}

/** Kinds of malformed session end, one per quarantine rule (docs/contract.md, rule 3). */
export const MALFORMED_CATEGORIES = [
  "not_json",
  "not_object",
  "oversized",
  "missing_tenant_id",
  "bad_session_id",
  "bad_device_id",
] as const;
/** One of {@linkcode MALFORMED_CATEGORIES}. */
export type MalformedCategory = typeof MALFORMED_CATEGORIES[number];

/**
 * Kinds of anomalous session end: a valid identity with an unusable
 * secondary field, stored with an anomaly (docs/contract.md, rule 3).
 */
export const ANOMALY_CATEGORIES = [
  "bad_user_id",
  "bad_start_time",
  "bad_end_time",
  "future_end_time",
  "forwarded_source_ip",
  "non_string_reason",
  "control_reason",
] as const;
/** One of {@linkcode ANOMALY_CATEGORIES}. */
export type AnomalyCategory = typeof ANOMALY_CATEGORIES[number];

/**
 * `valid`, `anomalous` (stored, with an anomaly) and `malformed`
 * (quarantined) are session ends; `other` is traffic on the stream's other
 * subjects.
 */
export type SimulatedMessageKind = "valid" | "anomalous" | "malformed" | "other";

/** One message as the poller would publish it. */
export interface SimulatedMessage {
  subject: string;
  payload: Uint8Array;
  kind: SimulatedMessageKind;
  /**
   * `valid`: the reason (`normal`, `idle_timeout`, ...); `anomalous`: an
   * {@linkcode AnomalyCategory}; `malformed`: a {@linkcode MalformedCategory};
   * `other`: the subject family (`device.status`).
   */
  category: string;
  /** The session id in the subject, for session ends. */
  sessionId?: string;
  /** True for the `normal` that follows an `idle_timeout` for the same session. */
  repeat: boolean;
}

/** Options for {@linkcode generateSessionEnds}. */
export interface SessionEndGeneratorOptions {
  /** Seed of every random choice: the same seed and clock give the same messages. @default a random seed */
  seed?: string | number;
  /** Number of tenants. @default 3 */
  tenants?: number;
  /** Routers per tenant. @default 5 */
  devicesPerTenant?: number;
  /** Users per tenant. @default 4 */
  usersPerTenant?: number;
  /** Share of session ends that are malformed (quarantined), 0..1. @default 0.02 */
  malformedShare?: number;
  /** Share of session ends with an unusable secondary field (stored with an anomaly), 0..1. @default 0.02 */
  anomalousShare?: number;
  /** Share of sessions that end with the `idle_timeout` then `normal` pair, 0..1. @default 0.1 */
  idlePairShare?: number;
  /** Share of messages on other stream subjects (`device.status.<id>`, ...), 0..1. @default 0.05 */
  otherShare?: number;
  /** Current time in epoch milliseconds; session ends end about now. @default Date.now */
  clock?: () => number;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`'${name}' must be a positive integer: current value is ${value}`);
  }
  return value;
}

function share(name: string, value: number): number {
  if (!(value >= 0 && value <= 1)) {
    throw new RangeError(`'${name}' must be a number from 0 to 1: current value is ${value}`);
  }
  return value;
}

/** A seeded pseudo-random source (sfc32 seeded with cyrb128 of the seed's text). */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** A random element of `items`. */
  pick<T>(items: readonly T[]): T;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** A version 4 UUID, lower case. */
  uuid(): string;
}

/** Creates a {@linkcode Random} from a seed; the same seed gives the same sequence. */
export function createRandom(seed: string | number): Random {
  const text = String(seed);
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  let a = (h1 ^ h2 ^ h3 ^ h4) >>> 0, b = (h2 ^ h1) >>> 0, c = (h3 ^ h1) >>> 0, d = (h4 ^ h1) >>> 0;
  const next = () => {
    a >>>= 0, b >>>= 0, c >>>= 0, d >>>= 0;
    const t = (a + b | 0) + d | 0;
    d = d + 1 | 0;
    a = b ^ (b >>> 9);
    b = c + (c << 3) | 0;
    c = (c << 21) | (c >>> 11);
    c = c + t | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    pick: <T>(items: readonly T[]): T => items[int(items.length)],
    chance: (p: number) => next() < p,
    uuid: () => {
      const bytes = new Uint8Array(16);
      for (let i = 0; i < 16; i++) bytes[i] = int(256);
      bytes[6] = (bytes[6] & 0x0f) | 0x40;
      bytes[8] = (bytes[8] & 0x3f) | 0x80;
      const hex = Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${
        hex.slice(20)
      }`;
    },
  };
}

/**
 * Formats epoch milliseconds as Go's `time.RFC3339` does: whole seconds,
 * `Z` for UTC, otherwise the local time with its `+hh:mm` offset.
 */
export function formatGoRfc3339(epochMs: number, offsetMinutes = 0): string {
  const local = new Date(Math.floor(epochMs / 1000) * 1000 + offsetMinutes * 60_000);
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  const text = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${
    pad(local.getUTCDate())
  }T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`;
  if (offsetMinutes === 0) return `${text}Z`;
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${text}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The fields of the poller's event, in its Go struct's order (json.Marshal writes them so). */
export const POLLER_FIELD_ORDER = [
  "session_id",
  "user_id",
  "tenant_id",
  "device_id",
  "start_time",
  "end_time",
  "source_ip",
  "reason",
] as const;

/** The poller's event, fields in its Go struct's order. */
interface PollerEvent {
  session_id: string;
  user_id: string;
  tenant_id: string;
  device_id: string;
  start_time: string;
  end_time: string;
  source_ip: string;
  reason: string;
}

interface Tenant {
  id: string;
  devices: string[];
  users: string[];
}

const encoder = new TextEncoder();
const json = (value: unknown) => encoder.encode(JSON.stringify(value));

/** UTC offsets of the relays' local clocks, in minutes; UTC most of the time. */
const OFFSETS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 120, 120, 120, -300, 330] as const;
const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

function bareAddress(random: Random): { ip: string; v6: boolean } {
  if (random.chance(0.3)) {
    const group = () => random.int(0x10000).toString(16);
    const ip = random.chance(0.5)
      ? `2001:db8:${group()}:${group()}::${group()}`
      : `2001:db8:${group()}:${group()}:${group()}:${group()}:${group()}:${group()}`;
    return { ip, v6: true };
  }
  const octet = () => random.int(256);
  const ip = [
    `10.${octet()}.${octet()}.${1 + random.int(254)}`,
    `192.168.${octet()}.${1 + random.int(254)}`,
    `203.0.113.${1 + random.int(254)}`,
    `198.51.100.${1 + random.int(254)}`,
  ][random.int(4)];
  return { ip, v6: false };
}

/**
 * A client address as the relay fills `source_ip`: the bare address from
 * `X-Real-IP` (or `X-Forwarded-For`) behind a proxy, Go's `RemoteAddr`
 * (`host:port`, `[v6]:port`) without one.
 */
function sourceIp(random: Random): string {
  const { ip, v6 } = bareAddress(random);
  if (random.chance(0.6)) return ip;
  const port = 1024 + random.int(64_512);
  return v6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Seconds, log-uniform between `min` and `max`. */
function logUniform(random: Random, min: number, max: number): number {
  return Math.round(Math.exp(Math.log(min) + random.next() * (Math.log(max) - Math.log(min))));
}

function malformed(
  random: Random,
  base: PollerEvent,
  category: MalformedCategory,
): { subjectId: string; payload: Uint8Array } {
  const subjectId = base.session_id;
  switch (category) {
    case "not_json": {
      const text = JSON.stringify(base);
      return {
        subjectId,
        payload: encoder.encode(text.slice(0, 20 + random.int(text.length - 40))),
      };
    }
    case "not_object":
      return {
        subjectId,
        payload: random.chance(0.5)
          ? json(Object.values(base))
          : json(`session ${base.session_id} ended`),
      };
    case "oversized":
      return { subjectId, payload: json({ ...base, debug_trace: "x".repeat(70 * 1024) }) };
    case "missing_tenant_id": {
      const { tenant_id: _dropped, ...rest } = base;
      return { subjectId, payload: json(rest) };
    }
    case "bad_session_id": {
      const bad = `sess-${random.int(1_000_000)}`;
      return { subjectId: bad, payload: json({ ...base, session_id: bad }) };
    }
    case "bad_device_id":
      return {
        subjectId,
        payload: json({
          ...base,
          device_id: random.chance(0.5) ? `rtr-${random.int(10_000)}` : base.device_id.slice(0, 35),
        }),
      };
  }
}

/** `base` with one secondary field made unusable: still a session end, stored with an anomaly. */
function anomalous(random: Random, base: PollerEvent, category: AnomalyCategory): unknown {
  switch (category) {
    case "bad_user_id":
      return { ...base, user_id: random.pick(["alice", "root", "42"]) };
    case "bad_start_time":
      return { ...base, start_time: "2026-02-30T00:00:00Z" };
    case "bad_end_time":
      return {
        ...base,
        end_time: base.end_time.replace("T", " ").replace(/Z|[+-]\d\d:\d\d$/, ""),
      };
    case "future_end_time": // a relay whose clock runs an hour or more ahead
      return {
        ...base,
        end_time: formatGoRfc3339(Date.parse(base.end_time) + 3_600_000 * (1 + random.int(24))),
      };
    case "forwarded_source_ip": // what a client wrote in X-Forwarded-For, with no proxy to strip it
      return {
        ...base,
        source_ip: random.pick(["unknown", "203.0.113.7, 10.0.0.1", "localhost", "300.1.2.3"]),
      };
    case "non_string_reason":
      return { ...base, reason: random.pick([3, true, { code: "idle" }, ["normal"]]) };
    case "control_reason":
      return { ...base, reason: random.pick(["normal\n", "idle\u0000timeout", "kill\tadmin"]) };
  }
}

function otherMessage(random: Random, tenant: Tenant, nowMs: number): SimulatedMessage {
  const deviceId = random.pick(tenant.devices);
  const at = formatGoRfc3339(nowMs);
  const family = random.pick([
    "device.status",
    "device.status",
    "device.metrics",
    "config.changed",
  ]);
  const body = family === "device.status"
    ? {
      device_id: deviceId,
      tenant_id: tenant.id,
      status: random.pick(["reachable", "unreachable"]),
      checked_at: at,
    }
    : family === "device.metrics"
    ? {
      device_id: deviceId,
      tenant_id: tenant.id,
      cpu_percent: random.int(100),
      mem_percent: random.int(100),
      at,
    }
    : { device_id: deviceId, tenant_id: tenant.id, changed_by: random.uuid(), at };
  return {
    subject: `${family}.${deviceId}`,
    payload: json(body),
    kind: "other",
    category: family,
    repeat: false,
  };
}

/**
 * Generates the poller's messages, without end: valid session ends with
 * realistic ids, times (`Z` and `+hh:mm`), durations, client addresses
 * (bare IPv4/IPv6, `host:port`, `[v6]:port`) and reasons; idle-timeout pairs
 * (`idle_timeout` then `normal` for the same session); anomalous session
 * ends of every {@linkcode AnomalyCategory}; malformed session ends of every
 * {@linkcode MalformedCategory}; and messages on other `DEVICE_EVENTS`
 * subjects. Take as many as needed.
 *
 * @throws {RangeError} for an option out of range, naming it and its value.
 */
export function* generateSessionEnds(
  options: SessionEndGeneratorOptions = {},
): Generator<SimulatedMessage, never> {
  const tenants = positiveInteger("tenants", options.tenants ?? 3);
  const devicesPerTenant = positiveInteger("devicesPerTenant", options.devicesPerTenant ?? 5);
  const usersPerTenant = positiveInteger("usersPerTenant", options.usersPerTenant ?? 4);
  const malformedShare = share("malformedShare", options.malformedShare ?? 0.02);
  const anomalousShare = share("anomalousShare", options.anomalousShare ?? 0.02);
  const idlePairShare = share("idlePairShare", options.idlePairShare ?? 0.1);
  const otherShare = share("otherShare", options.otherShare ?? 0.05);
  const clock = options.clock ?? Date.now;
  const random = createRandom(options.seed ?? crypto.randomUUID());

  const fleet: Tenant[] = Array.from({ length: tenants }, () => ({
    id: random.uuid(),
    devices: Array.from({ length: devicesPerTenant }, () => random.uuid()),
    users: Array.from({ length: usersPerTenant }, () => random.uuid()),
  }));

  while (true) {
    const tenant = random.pick(fleet);
    const now = clock();
    if (random.chance(otherShare)) {
      yield otherMessage(random, tenant, now);
      continue;
    }
    const idlePair = random.chance(idlePairShare);
    const offset = random.pick(OFFSETS);
    const endMs = now - random.int(5_000);
    const durationS = idlePair
      ? 15 * 60 + logUniform(random, 1, 4 * 3600)
      : logUniform(random, 2, 6 * 3600);
    const event: PollerEvent = {
      session_id: random.uuid(),
      user_id: random.chance(0.1) ? "" : random.pick(tenant.users),
      tenant_id: tenant.id,
      device_id: random.pick(tenant.devices),
      start_time: random.chance(0.01)
        ? GO_ZERO_TIME
        : formatGoRfc3339(endMs - durationS * 1000, offset),
      end_time: formatGoRfc3339(endMs, offset),
      source_ip: sourceIp(random),
      reason: idlePair
        ? "idle_timeout"
        : random.chance(0.06)
        ? "shutdown"
        : random.chance(0.01)
        ? "relay_restart"
        : "normal",
    };
    const subject = SESSION_END_SUBJECT_PREFIX + event.session_id;
    if (random.chance(malformedShare)) {
      const category = random.pick(MALFORMED_CATEGORIES);
      const { subjectId, payload } = malformed(random, event, category);
      yield {
        subject: SESSION_END_SUBJECT_PREFIX + subjectId,
        payload,
        kind: "malformed",
        category,
        sessionId: subjectId,
        repeat: false,
      };
      continue;
    }
    if (random.chance(anomalousShare)) {
      const category = random.pick(ANOMALY_CATEGORIES);
      yield {
        subject,
        payload: json(anomalous(random, event, category)),
        kind: "anomalous",
        category,
        sessionId: event.session_id,
        repeat: false,
      };
      continue;
    }
    yield {
      subject,
      payload: json(event),
      kind: "valid",
      category: event.reason,
      sessionId: event.session_id,
      repeat: false,
    };
    if (idlePair) {
      const closedMs = endMs + random.int(3) * 1000;
      const close = { ...event, end_time: formatGoRfc3339(closedMs, offset), reason: "normal" };
      yield {
        subject,
        payload: json(close),
        kind: "valid",
        category: "normal",
        sessionId: event.session_id,
        repeat: true,
      };
    }
  }
}

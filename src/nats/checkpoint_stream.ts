/**
 * The independent copy of the checkpoints: a JetStream stream of its own
 * (`SESSION_AUDIT_CHECKPOINTS` by default), one subject per tenant
 * (`session_audit.checkpoint.<tenant_id>`), kept without limits and with
 * deletes and purges refused. Creating it, publishing to it (deduplicated
 * by `Nats-Msg-Id`), and reading it back.
 *
 * @module
 */
import { nanos } from "@nats-io/nats-core";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import {
  checkpointJson,
  type CheckpointRecord,
  linkDigest,
  NO_PREDECESSOR,
  parseCheckpointJson,
} from "../integrity/checkpoint_record.ts";
import type { CheckpointCopy } from "../integrity/verify.ts";

/** The stream's default name (`CHECKPOINT_STREAM`). */
export const DEFAULT_CHECKPOINT_STREAM = "SESSION_AUDIT_CHECKPOINTS";
/** Every checkpoint subject starts with this; the tenant id follows. */
export const CHECKPOINT_SUBJECT_PREFIX = "session_audit.checkpoint";

/** The subject of a tenant's checkpoints. */
export function checkpointSubject(tenantId: string): string {
  return `${CHECKPOINT_SUBJECT_PREFIX}.${tenantId}`;
}

/** The stream the service creates when it is missing. */
export function checkpointStreamConfig(name: string): Partial<StreamConfig> & { name: string } {
  return {
    name,
    description: "session-audit: every checkpoint of the tenants' hash chains, kept for audits",
    subjects: [`${CHECKPOINT_SUBJECT_PREFIX}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_age: 0,
    max_msgs: -1,
    max_bytes: -1,
    deny_delete: true,
    deny_purge: true,
    duplicate_window: nanos(120_000),
    num_replicas: 1,
  };
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamNotFound || err.status === 404);
}

/** Creates the stream when missing; returns true when it created it. */
export async function ensureCheckpointStream(
  jsm: JetStreamManager,
  name: string,
): Promise<boolean> {
  try {
    await jsm.streams.info(name);
    return false;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await jsm.streams.add(checkpointStreamConfig(name));
  return true;
}

/** The message id of a checkpoint: the same checkpoint published twice is stored once. */
export function checkpointMsgId(c: CheckpointRecord): string {
  return `${c.tenantId}:${c.ordinal}:${linkDigest(NO_PREDECESSOR, c).slice(0, 16)}`;
}

/** Publishes one checkpoint; resolves once the stream stored it. */
export async function publishCheckpoint(
  js: JetStreamClient,
  stream: string,
  c: CheckpointRecord,
): Promise<void> {
  await js.publish(checkpointSubject(c.tenantId), JSON.stringify(checkpointJson(c)), {
    msgID: checkpointMsgId(c),
    expect: { streamName: stream },
  });
}

/** Parses a stored message; a message that is not a checkpoint is skipped (undefined). */
function checkpointFrom(data: Uint8Array): CheckpointRecord | undefined {
  try {
    const parsed = parseCheckpointJson(JSON.parse(new TextDecoder().decode(data)));
    return parsed.ok ? parsed.checkpoint : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every checkpoint under `subject` (a tenant's, or `…>` for all), in stream
 * order, read with a short-lived consumer of its own.
 */
export async function readCheckpointStream(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  subject = `${CHECKPOINT_SUBJECT_PREFIX}.>`,
): Promise<CheckpointRecord[]> {
  const info = await jsm.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    filter_subject: subject,
    inactive_threshold: nanos(60_000),
    mem_storage: true,
  });
  const found: CheckpointRecord[] = [];
  try {
    let pending = info.num_pending;
    const consumer = await js.consumers.get(stream, info.name);
    while (pending > 0) {
      const batch = await consumer.fetch({
        max_messages: Math.min(pending, 1_000),
        expires: 5_000,
      });
      let got = 0;
      for await (const msg of batch) {
        got++;
        pending = msg.info.pending;
        const c = checkpointFrom(msg.data);
        if (c) found.push(c);
      }
      if (got === 0) throw new Error(`reading ${stream}: no message came while ${pending} pend`);
    }
  } finally {
    await jsm.consumers.delete(stream, info.name).catch(() => {});
  }
  return found;
}

/** The last checkpoint published for a tenant, or undefined. */
export async function latestCheckpoint(
  jsm: JetStreamManager,
  stream: string,
  tenantId: string,
): Promise<CheckpointRecord | undefined> {
  const msg = await jsm.streams.getMessage(stream, { last_by_subj: checkpointSubject(tenantId) });
  return msg ? checkpointFrom(msg.data) : undefined;
}

/** The tenants that have checkpoints in the stream. */
export async function streamTenants(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const info = await jsm.streams.info(stream, {
    subjects_filter: `${CHECKPOINT_SUBJECT_PREFIX}.>`,
  });
  return Object.keys(info.state.subjects ?? {}).map((s) =>
    s.slice(CHECKPOINT_SUBJECT_PREFIX.length + 1)
  );
}

/** The stream as the verifiers' {@linkcode CheckpointCopy}. */
export function streamCopy(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
): CheckpointCopy {
  return {
    read: (tenantId) => readCheckpointStream(js, jsm, stream, checkpointSubject(tenantId)),
    tenants: () => streamTenants(jsm, stream),
  };
}

/**
 * A chain checkpoint as a record: the text it signs, the digest that links
 * it to the next checkpoint of its tenant, and its JSON form (in the
 * independent copy, the log and checkpoint files). Pure.
 *
 * Each tenant's checkpoints form a chain of their own, numbered 1, 2, 3, …
 * (`ordinal`). A version 2 checkpoint signs
 *
 *     session-audit checkpoint v2
 *     <tenant_id>
 *     <ordinal>
 *     <kind>              periodic | purge
 *     <seq>               the chain position it vouches for
 *     <hash>              that position's chain_hash
 *     <created_at>        epoch milliseconds
 *     <algorithm>         hmac-sha256 | ed25519 | none
 *     <key_id>            empty when unsigned
 *     <prev_digest>       the link digest of checkpoint ordinal - 1 (64 zeros for the first)
 *
 * (lines joined by "\n") and its link digest is hex(SHA-256(that text)).
 * Checkpoints written before schema 6 (version 1) signed
 * `session-audit checkpoint v1\n<tenant_id>\n<kind>\n<seq>\n<hash>\n<created_at>`
 * and name no predecessor: their link digests accumulate instead,
 * hex(SHA-256(previous link digest + "\n" + text)), so that the first
 * version 2 checkpoint seals every one of them.
 *
 * @module
 */
import { createHash } from "node:crypto";
import * as v from "valibot";

/** The link digest before a tenant's first checkpoint. */
export const NO_PREDECESSOR = "0".repeat(64);

/** The version new checkpoints are written with. */
export const CHECKPOINT_VERSION = 2;

/** Why a checkpoint was written. */
export type CheckpointKind = "periodic" | "purge";

/**
 * A checkpoint as stored (or as found in a copy). Text fields are strings
 * whatever they hold: a tampered row may hold anything, and the verifier
 * says so.
 */
export interface CheckpointRecord {
  /** 1 (before schema 6) or 2. */
  version: number;
  tenantId: string;
  /** Its place in the tenant's checkpoint chain, from 1. */
  ordinal: number;
  /** `periodic` or `purge`. */
  kind: string;
  /** The chain position vouched for. */
  seq: number;
  /** The chain_hash at `seq`. */
  hash: string;
  /** Epoch ms. */
  createdAt: number;
  /** `hmac-sha256`, `ed25519` or `none`. */
  algorithm: string;
  /** The signing key's id; null for version 1 and unsigned checkpoints. */
  keyId: string | null;
  /** The predecessor's link digest (version 2); null for version 1. */
  prevDigest: string | null;
  /** Base64; empty when unsigned. */
  signature: string;
}

/** The text a checkpoint signs, in its version. */
export function checkpointText(c: CheckpointRecord): string {
  if (c.version === 1) {
    return ["session-audit checkpoint v1", c.tenantId, c.kind, c.seq, c.hash, c.createdAt].join(
      "\n",
    );
  }
  return [
    `session-audit checkpoint v${c.version}`,
    c.tenantId,
    c.ordinal,
    c.kind,
    c.seq,
    c.hash,
    c.createdAt,
    c.algorithm,
    c.keyId ?? "",
    c.prevDigest ?? "",
  ].join("\n");
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The link digest of `c`, given its predecessor's (see the module comment). */
export function linkDigest(previous: string, c: CheckpointRecord): string {
  return c.version === 1 ? sha256(`${previous}\n${checkpointText(c)}`) : sha256(checkpointText(c));
}

/** A checkpoint's JSON form: in the independent copy, the log, and checkpoint files. */
export interface CheckpointJson {
  version: number;
  tenant_id: string;
  ordinal: number;
  kind: string;
  seq: number;
  hash: string;
  created_at: number;
  algorithm: string;
  key_id: string | null;
  prev_digest: string | null;
  signature: string;
}

/** The JSON form of `c`. */
export function checkpointJson(c: CheckpointRecord): CheckpointJson {
  return {
    version: c.version,
    tenant_id: c.tenantId,
    ordinal: c.ordinal,
    kind: c.kind,
    seq: c.seq,
    hash: c.hash,
    created_at: c.createdAt,
    algorithm: c.algorithm,
    key_id: c.keyId,
    prev_digest: c.prevDigest,
    signature: c.signature,
  };
}

/** The JSON form, read into a record. */
const CheckpointJsonSchema = v.pipe(
  v.object({
    version: v.pipe(v.number(), v.integer()),
    tenant_id: v.string(),
    ordinal: v.pipe(v.number(), v.integer()),
    kind: v.string(),
    seq: v.pipe(v.number(), v.integer()),
    hash: v.string(),
    created_at: v.number(),
    algorithm: v.string(),
    key_id: v.nullable(v.string()),
    prev_digest: v.nullable(v.string()),
    signature: v.string(),
  }),
  v.transform((o): CheckpointRecord => ({
    version: o.version,
    tenantId: o.tenant_id,
    ordinal: o.ordinal,
    kind: o.kind,
    seq: o.seq,
    hash: o.hash,
    createdAt: o.created_at,
    algorithm: o.algorithm,
    keyId: o.key_id,
    prevDigest: o.prev_digest,
    signature: o.signature,
  })),
);

/** A checkpoint from its JSON form, or the first problem found. */
export function parseCheckpointJson(
  json: unknown,
): { ok: true; checkpoint: CheckpointRecord } | { ok: false; problem: string } {
  const result = v.safeParse(CheckpointJsonSchema, json);
  if (result.success) return { ok: true, checkpoint: result.output };
  const issue = result.issues[0];
  return { ok: false, problem: `${v.getDotPath(issue) ?? "checkpoint"}: ${issue.message}` };
}

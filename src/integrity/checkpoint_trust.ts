/**
 * Trusting one checkpoint: what its signature says under the keyring, the
 * rules that make it count or break (shared by the verifiers, the
 * self-check and the checkpoint writer), and its comparison with the
 * independent copy's. No I/O.
 *
 * @module
 */
import type { ChainBreak } from "./chain.ts";
import { type CheckpointRecord, checkpointText } from "./checkpoint_record.ts";
import { keyById, type Keyring, keysOf } from "./keyring.ts";

/** What a checkpoint's signature says of it under a keyring. */
export type Status =
  | { kind: "unsigned" | "valid" | "unchecked" }
  | { kind: "forged" | "unverifiable"; detail: string };

/** Whether `c`'s signature verifies under the keyring. */
export async function signatureStatus(c: CheckpointRecord, keyring: Keyring): Promise<Status> {
  if (c.algorithm === "none") return { kind: "unsigned" };
  if (keyring.keys.length === 0) return { kind: "unchecked" };
  const text = checkpointText(c);
  if (c.version === 1) {
    for (const key of keysOf(keyring, c.algorithm)) {
      if (await key.verify(text, c.signature)) return { kind: "valid" };
    }
    return {
      kind: "unverifiable",
      detail:
        `checkpoint ${c.ordinal} was written before key ids and no configured ${c.algorithm} key verifies it`,
    };
  }
  const key = c.keyId === null ? undefined : keyById(keyring, c.keyId);
  if (!key) {
    return {
      kind: "unverifiable",
      detail:
        `checkpoint ${c.ordinal} is signed by key ${c.keyId} (${c.algorithm}), which is not configured`,
    };
  }
  if (key.algorithm !== c.algorithm) {
    return {
      kind: "forged",
      detail:
        `checkpoint ${c.ordinal} claims ${c.algorithm} with key ${c.keyId}, an ${key.algorithm} key`,
    };
  }
  return await key.verify(text, c.signature)
    ? { kind: "valid" }
    : { kind: "forged", detail: `checkpoint ${c.ordinal} has an invalid signature` };
}

/**
 * Why a new signed checkpoint must not chain over `last`, the tenant's
 * latest (undefined when it may): its signature would vouch for `last`
 * through the link. Only what the verifier trusts is chained over: a
 * checkpoint whose signature verifies, or an unsigned one written before
 * any signed one (`signedBefore` false). One signed by a key that is not
 * configured is chained over: the verifier reports it whatever follows.
 */
export async function refusalToChainOver(
  last: CheckpointRecord,
  signedBefore: boolean,
  keyring: Keyring,
): Promise<string | undefined> {
  const s = await signatureStatus(last, keyring);
  if (s.kind === "forged") return s.detail;
  if (s.kind === "unsigned" && !unsignedMayBeVouched(signedBefore)) {
    return `checkpoint ${last.ordinal} (${last.kind}, position ${last.seq}) is unsigned and follows a signed one`;
  }
  return undefined;
}

/**
 * Whether a later signature may vouch for an unsigned checkpoint: only for
 * one written before the chain's first signed checkpoint (before a key was
 * configured). One appended after a signed checkpoint is a forgery.
 */
export function unsignedMayBeVouched(signedBefore: boolean): boolean {
  return !signedBefore;
}

/** Whether two checkpoints are the same one: the text they sign, and the signature. */
export function sameCheckpoint(a: CheckpointRecord, b: CheckpointRecord): boolean {
  return checkpointText(a) === checkpointText(b) && a.signature === b.signature;
}

/** A break of the chain that checkpoint `c` shows (at its position). */
export function checkpointBreak(
  c: CheckpointRecord,
  problem: ChainBreak["problem"],
  detail: string,
): ChainBreak {
  return { session_id: null, problem, chain_seq: c.seq, detail };
}

/**
 * The break of a checkpoint its signature status (`s`) makes untrusted:
 * forged, unverifiable, or unsigned with a key configured unless
 * `unsignedTrusted` (see {@linkcode verifyCheckpoints}); undefined when it counts.
 */
export function untrustedBreak(
  c: CheckpointRecord,
  s: Status,
  unsignedTrusted: boolean,
): ChainBreak | undefined {
  if (s.kind === "forged" || s.kind === "unverifiable") return checkpointBreak(c, s.kind, s.detail);
  if (s.kind === "unsigned" && !unsignedTrusted) {
    return checkpointBreak(
      c,
      "forged",
      `checkpoint ${c.ordinal} (${c.kind}, position ${c.seq}) is unsigned: with a key configured only signed checkpoints count`,
    );
  }
  return undefined;
}

/**
 * The independent copy's checkpoint `entry` against the database's
 * checkpoint of its number (`stored`): a bad signature, a checkpoint absent
 * from the database or different from it (what it signs, or its signature)
 * is a break. `vouches`: the rows must still reach its head.
 */
export async function checkCopyEntry(
  entry: CheckpointRecord,
  stored: CheckpointRecord | undefined,
  keyring: Keyring,
): Promise<{ broken?: ChainBreak; vouches: boolean }> {
  const label = `checkpoint ${entry.ordinal} of the independent copy`;
  const s = await signatureStatus(entry, keyring);
  if (s.kind === "forged" || s.kind === "unverifiable") {
    return {
      broken: checkpointBreak(entry, s.kind, `${s.detail} (in the independent copy)`),
      vouches: false,
    };
  }
  if (!stored) {
    return {
      broken: checkpointBreak(
        entry,
        "missing",
        `${label} (${entry.kind}, position ${entry.seq}) is not in the database`,
      ),
      vouches: true,
    };
  }
  if (!sameCheckpoint(stored, entry)) {
    return {
      broken: checkpointBreak(
        entry,
        "altered",
        `checkpoint ${entry.ordinal} differs from the ${label}`,
      ),
      vouches: true,
    };
  }
  return { vouches: true };
}

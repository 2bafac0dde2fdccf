/**
 * Trusting checkpoints: walks a tenant's checkpoint chain (numbers and
 * links), checks signatures against the keyring, compares with the
 * independent copy, and decides where verification of the rows starts (the
 * anchor) and which heads the rows must pass through. No I/O.
 *
 * With a key configured, a checkpoint is trusted when its signature
 * verifies under a configured key. An unsigned one is trusted only before
 * the chain's first signed checkpoint (written before a key was configured)
 * and when a later valid signature covers it through intact links; after
 * that, an unsigned checkpoint is reported as `forged`, and one signed by a
 * key that is not configured as `unverifiable`. Without any key, every
 * checkpoint is taken as it is (nothing proves who wrote it).
 *
 * @module
 */
import { type ChainAnchor, type ChainBreak, GENESIS_HEAD } from "./chain.ts";
import {
  type CheckpointRecord,
  checkpointText,
  linkDigest,
  NO_PREDECESSOR,
} from "./checkpoint_record.ts";
import { keyById, type Keyring, keysOf } from "./keyring.ts";

/** A chain position the rows must reach with this hash. */
export interface VouchedHead {
  seq: number;
  hash: string;
  /** Who vouches, for a human ("signed checkpoint 4", "checkpoint 4 of the independent copy"). */
  label: string;
}

/** What the checkpoints say about a tenant's chain. */
export interface CheckpointVerdict {
  /** Where the rows start: the latest trusted purge checkpoint, or the genesis. */
  anchor: ChainAnchor;
  /** Heads above the anchor the rows must pass through. */
  heads: VouchedHead[];
  /** Problems of the checkpoints themselves. */
  breaks: ChainBreak[];
  /** Checkpoints whose signature verified (at or after the anchor, or above its position). */
  verified: number;
  /** The last checkpoint of the chain and its link digest, where a later walk may resume. */
  last?: { checkpoint: CheckpointRecord; link: string };
}

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
function unsignedMayBeVouched(signedBefore: boolean): boolean {
  return !signedBefore;
}

/** Whether two checkpoints are the same one: the text they sign, and the signature. */
export function sameCheckpoint(a: CheckpointRecord, b: CheckpointRecord): boolean {
  return checkpointText(a) === checkpointText(b) && a.signature === b.signature;
}

/** A checkpoint accepted into the walk, with its link digest. */
export interface Walked {
  c: CheckpointRecord;
  link: string;
  /** Its link to the previous checkpoint holds. */
  linked: boolean;
}

function breakAt(c: CheckpointRecord, problem: ChainBreak["problem"], detail: string): ChainBreak {
  return { session_id: null, problem, chain_seq: c.seq, detail };
}

const KINDS = new Set(["periodic", "purge"]);

/**
 * Walks the checkpoints in ordinal order: numbers, links, versions. From
 * the start of the chain, or resuming after `from`, a checkpoint walked
 * before (its record and link digest).
 */
export function walkCheckpoints(
  checkpoints: readonly CheckpointRecord[],
  breaks: ChainBreak[],
  from?: { record: CheckpointRecord; link: string },
): Walked[] {
  const walked: Walked[] = [];
  let expected = (from?.record.ordinal ?? 0) + 1;
  let previous = from?.link ?? NO_PREDECESSOR;
  let sawVersion2 = from?.record.version === 2;
  for (const c of checkpoints) {
    if (!Number.isSafeInteger(c.ordinal) || c.ordinal < 1) {
      breaks.push(breakAt(c, "inserted", "a checkpoint carries no number (ordinal)"));
      continue;
    }
    if (c.ordinal < expected) {
      const original = walked.findLast((w) => w.c.ordinal === c.ordinal)?.c ??
        (from?.record.ordinal === c.ordinal ? from.record : undefined);
      const same = original !== undefined && sameCheckpoint(original, c);
      breaks.push(breakAt(
        c,
        "inserted",
        same
          ? `checkpoint ${c.ordinal} appears twice (a genuine one replayed)`
          : `a second checkpoint claims number ${c.ordinal}`,
      ));
      continue;
    }
    let linked = true;
    if (c.ordinal > expected) {
      breaks.push(breakAt(
        c,
        "missing",
        `checkpoints ${expected}..${c.ordinal - 1} are absent (checkpoint ${c.ordinal} follows ${
          expected - 1
        })`,
      ));
      linked = false;
    }
    if (c.version !== 1 && c.version !== 2) {
      breaks.push(
        breakAt(c, "altered", `checkpoint ${c.ordinal} has unknown version ${c.version}`),
      );
      linked = false;
    } else if (c.version === 1 && sawVersion2) {
      breaks.push(breakAt(c, "altered", `checkpoint ${c.ordinal} is of version 1 after version 2`));
      linked = false;
    } else if (c.version === 2 && linked && c.prevDigest !== previous) {
      breaks.push(breakAt(
        c,
        "altered",
        `checkpoint ${c.ordinal} does not name checkpoint ${
          c.ordinal - 1
        } as it is now: a checkpoint was changed or replaced`,
      ));
      linked = false;
    }
    if (!KINDS.has(c.kind)) {
      breaks.push(breakAt(c, "altered", `checkpoint ${c.ordinal} has unknown kind ${c.kind}`));
    }
    const link = linkDigest(previous, c);
    walked.push({ c, link, linked });
    previous = link;
    expected = c.ordinal + 1;
    if (c.version === 2) sawVersion2 = true;
  }
  return walked;
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
  if (s.kind === "forged" || s.kind === "unverifiable") return breakAt(c, s.kind, s.detail);
  if (s.kind === "unsigned" && !unsignedTrusted) {
    return breakAt(
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
      broken: breakAt(entry, s.kind, `${s.detail} (in the independent copy)`),
      vouches: false,
    };
  }
  if (!stored) {
    return {
      broken: breakAt(
        entry,
        "missing",
        `${label} (${entry.kind}, position ${entry.seq}) is not in the database`,
      ),
      vouches: true,
    };
  }
  if (!sameCheckpoint(stored, entry)) {
    return {
      broken: breakAt(entry, "altered", `checkpoint ${entry.ordinal} differs from the ${label}`),
      vouches: true,
    };
  }
  return { vouches: true };
}

/**
 * Verifies a tenant's checkpoints (`checkpoints` in ordinal order, as the
 * database holds them) and, when given, the independent copy's (`copy`).
 */
export async function verifyCheckpoints(
  checkpoints: readonly CheckpointRecord[],
  keyring: Keyring,
  copy?: readonly CheckpointRecord[],
): Promise<CheckpointVerdict> {
  const breaks: ChainBreak[] = [];
  const walked = walkCheckpoints(checkpoints, breaks);
  const keyed = keyring.keys.length > 0;
  const statuses = new Map<number, Status>();
  const status = async (i: number): Promise<Status> => {
    let s = statuses.get(i);
    if (!s) statuses.set(i, s = await signatureStatus(walked[i].c, keyring));
    return s;
  };
  const firstSigned = walked.findIndex((w) => w.c.algorithm !== "none");
  /** Before any signed checkpoint, and covered by a later valid signature through intact links. */
  const vouchedUnsigned = async (i: number): Promise<boolean> => {
    if (!unsignedMayBeVouched(firstSigned !== -1 && i > firstSigned)) return false;
    for (let j = i + 1; j < walked.length && walked[j].linked; j++) {
      if ((await status(j)).kind === "valid") return true;
    }
    return false;
  };
  const trusted = async (i: number): Promise<boolean> => {
    if (!keyed) return true;
    const s = await status(i);
    return s.kind === "valid" || (s.kind === "unsigned" && await vouchedUnsigned(i));
  };

  let anchorIndex = -1;
  for (let i = walked.length - 1; i >= 0; i--) {
    if (walked[i].c.kind === "purge" && await trusted(i)) {
      anchorIndex = i;
      break;
    }
  }
  const anchor: ChainAnchor = anchorIndex === -1
    ? GENESIS_HEAD
    : { seq: walked[anchorIndex].c.seq, hash: walked[anchorIndex].c.hash };

  const heads: VouchedHead[] = [];
  let verified = 0;
  for (let i = 0; i < walked.length; i++) {
    const { c } = walked[i];
    // Checkpoints of purged rows no longer matter (nor do the keys that signed them).
    if (i < anchorIndex && c.seq <= anchor.seq) continue;
    const s = keyed ? await status(i) : { kind: "unchecked" as const };
    if (s.kind === "valid") verified++;
    const broken = untrustedBreak(c, s, s.kind !== "unsigned" || await trusted(i));
    if (broken) {
      breaks.push(broken);
    } else if (i !== anchorIndex && c.seq > anchor.seq && await trusted(i)) {
      heads.push({ seq: c.seq, hash: c.hash, label: `checkpoint ${c.ordinal}` });
    }
  }
  if (copy) {
    await compareWithCopy(walked, copy, keyring, { anchor, anchorIndex }, breaks, heads);
  }
  const last = walked.at(-1);
  return {
    anchor,
    heads,
    breaks,
    verified,
    last: last && { checkpoint: last.c, link: last.link },
  };
}

/**
 * The independent copy's checkpoints must each be in the database, unchanged,
 * and the rows must pass through their heads: a chain cut short, rewound or
 * rewritten shows here even when its checkpoints were deleted too.
 */
async function compareWithCopy(
  walked: readonly Walked[],
  copy: readonly CheckpointRecord[],
  keyring: Keyring,
  { anchor, anchorIndex }: { anchor: ChainAnchor; anchorIndex: number },
  breaks: ChainBreak[],
  heads: VouchedHead[],
): Promise<void> {
  const stored = new Map(walked.map((w) => [w.c.ordinal, w.c]));
  const anchorOrdinal = anchorIndex === -1 ? 0 : walked[anchorIndex].c.ordinal;
  const seen = new Map<number, CheckpointRecord>();
  for (const entry of [...copy].sort((a, b) => a.ordinal - b.ordinal)) {
    const label = `checkpoint ${entry.ordinal} of the independent copy`;
    const twin = seen.get(entry.ordinal);
    if (twin) {
      if (!sameCheckpoint(twin, entry)) {
        breaks.push(breakAt(entry, "altered", `the copy holds two different ${label}s`));
      }
      continue;
    }
    seen.set(entry.ordinal, entry);
    const relevant = entry.ordinal >= anchorOrdinal || entry.seq > anchor.seq;
    if (!relevant) continue;
    const { broken, vouches } = await checkCopyEntry(entry, stored.get(entry.ordinal), keyring);
    if (broken) breaks.push(broken);
    if (vouches && entry.seq > anchor.seq) heads.push({ seq: entry.seq, hash: entry.hash, label });
  }
}

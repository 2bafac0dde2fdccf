/**
 * Trusting checkpoints: walks a tenant's checkpoint chain (numbers and
 * links), checks signatures against the keyring (by the rules of
 * `checkpoint_trust.ts`), compares with the independent copy, and decides
 * where verification of the rows starts (the anchor) and which heads the
 * rows must pass through. No I/O.
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
import { type CheckpointRecord, linkDigest, NO_PREDECESSOR } from "./checkpoint_record.ts";
import type { Keyring } from "./keyring.ts";
import {
  checkCopyEntry,
  checkpointBreak,
  sameCheckpoint,
  signatureStatus,
  type Status,
  unsignedMayBeVouched,
  untrustedBreak,
} from "./checkpoint_trust.ts";

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

/** A checkpoint accepted into the walk, with its link digest. */
export interface Walked {
  c: CheckpointRecord;
  link: string;
  /** Its link to the previous checkpoint holds. */
  linked: boolean;
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
      breaks.push(checkpointBreak(c, "inserted", "a checkpoint carries no number (ordinal)"));
      continue;
    }
    if (c.ordinal < expected) {
      const original = walked.findLast((w) => w.c.ordinal === c.ordinal)?.c ??
        (from?.record.ordinal === c.ordinal ? from.record : undefined);
      const same = original !== undefined && sameCheckpoint(original, c);
      breaks.push(checkpointBreak(
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
      breaks.push(checkpointBreak(
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
        checkpointBreak(c, "altered", `checkpoint ${c.ordinal} has unknown version ${c.version}`),
      );
      linked = false;
    } else if (c.version === 1 && sawVersion2) {
      breaks.push(
        checkpointBreak(c, "altered", `checkpoint ${c.ordinal} is of version 1 after version 2`),
      );
      linked = false;
    } else if (c.version === 2 && linked && c.prevDigest !== previous) {
      breaks.push(checkpointBreak(
        c,
        "altered",
        `checkpoint ${c.ordinal} does not name checkpoint ${
          c.ordinal - 1
        } as it is now: a checkpoint was changed or replaced`,
      ));
      linked = false;
    }
    if (!KINDS.has(c.kind)) {
      breaks.push(
        checkpointBreak(c, "altered", `checkpoint ${c.ordinal} has unknown kind ${c.kind}`),
      );
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
        breaks.push(checkpointBreak(entry, "altered", `the copy holds two different ${label}s`));
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

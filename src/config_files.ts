/**
 * What is wrong, if anything, with a file the configuration names: a NATS
 * `.creds` file (`NATS_CREDS_FILE`) or a CA bundle (`DENO_CERT`). Each check
 * reads the file once and answers with a problem to put after its path in
 * a configuration error, never echoing a secret.
 *
 * @module
 */
import { nkeys } from "@nats-io/nats-core";

/** Reads a text file, or says why it cannot be read. */
function readText(path: string): { text: string } | { problem: string } {
  try {
    return { text: Deno.readTextFileSync(path) };
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : err instanceof Deno.errors.IsADirectory
      ? "is a directory"
      : (err as Error).message;
    return { problem: `cannot be read: ${why}` };
  }
}

// The two armoured blocks of a .creds file, as nats.js's credsAuthenticator finds them.
const CREDS_BLOCK = /\s*(?:(?:[-]{3,}[^\n]*[-]{3,}\n)(.+)(?:\n\s*[-]{3,}[^\n]*[-]{3,}\n))/ig;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Why a `.creds` file cannot serve (unreadable, or not a user JWT followed
 * by a user NKey seed), or undefined when it can.
 */
export function credsFileProblem(path: string): string | undefined {
  const read = readText(path);
  if ("problem" in read) return read.problem;
  const blocks = [...read.text.matchAll(CREDS_BLOCK)].map((m) => m[1].trim());
  const unparsable = (what: string) =>
    `is not a NATS credentials file: ${what} (create one with nsc generate creds)`;
  if (blocks.length < 2) return unparsable("it needs a user JWT block and an NKey seed block");
  if (!JWT_SHAPE.test(blocks[0])) return unparsable("the first block is not a JWT");
  try {
    const seed = nkeys.fromSeed(new TextEncoder().encode(blocks[1]));
    if (seed.getPublicKey().startsWith("U")) return undefined;
  } catch {
    // not a seed at all
  }
  return unparsable("the second block is not a user NKey seed");
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/;

/** Why a CA file cannot serve (unreadable, or no PEM certificate in it), or undefined. */
export function caFileProblem(path: string): string | undefined {
  const read = readText(path);
  if ("problem" in read) return read.problem;
  return PEM_CERTIFICATE.test(read.text)
    ? undefined
    : "holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
}

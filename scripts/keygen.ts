/**
 * `deno task keygen`: prints a new Ed25519 key pair for signing chain
 * checkpoints, as the two environment variables the service and
 * `deno task verify` read.
 *
 * @module
 */
import { generateEd25519 } from "../src/integrity/signing.ts";

const { privateKey, publicKey } = await generateEd25519();
console.log(`AUDIT_SIGNING_ED25519_PRIVATE_KEY=${privateKey}`);
console.log(`AUDIT_SIGNING_ED25519_PUBLIC_KEY=${publicKey}`);
console.error("keep the private key with the service only; give the public key to auditors");

/**
 * What the start-up tests need to make NATS refuse the service as a real
 * deployment would: operator-mode credentials (NATS JWTs signed with NKeys,
 * built offline as `nsc` would), a private CA with a server certificate
 * (made with openssl), and the service run once to its exit.
 *
 * @module
 */
import { nkeys } from "@nats-io/nats-core";

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** A NATS JWT (`alg: ed25519-nkey`) with `claims`, issued and signed by `issuer`. */
export function natsJwt(issuer: nkeys.KeyPair, claims: Record<string, unknown>): string {
  const header = base64url(encoder.encode(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" })));
  const body = {
    jti: crypto.randomUUID().replaceAll("-", "").toUpperCase(),
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    ...claims,
  };
  const payload = base64url(encoder.encode(JSON.stringify(body)));
  const signature = base64url(issuer.sign(encoder.encode(`${header}.${payload}`)));
  return `${header}.${payload}.${signature}`;
}

/** A `.creds` file as `nsc generate creds` writes it. */
export function credsFile(userJwt: string, user: nkeys.KeyPair): string {
  const seed = new TextDecoder().decode(user.getSeed());
  return [
    "-----BEGIN NATS USER JWT-----",
    userJwt,
    "------END NATS USER JWT------",
    "",
    "************************* IMPORTANT *************************",
    "NKEY Seed printed below can be used to sign and prove identity.",
    "",
    "-----BEGIN USER NKEY SEED-----",
    seed,
    "------END USER NKEY SEED------",
    "",
    "*************************************************************",
    "",
  ].join("\n");
}

/** An operator with one account: the server configuration and a way to mint users. */
export interface OperatorMode {
  /** Lines for the nats-server configuration (operator JWT file and preloaded account). */
  serverConfig: string;
  /** A user of the trusted account, as a `.creds` file's text. */
  trustedUser(): string;
  /** A well-formed user of an account the server does not know. */
  strangerUser(): string;
}

const UNLIMITED_USER = { pub: {}, sub: {}, subs: -1, data: -1, payload: -1 };

/** Builds an operator and an account, writing the operator JWT into `dir`. */
export async function operatorMode(dir: string): Promise<OperatorMode> {
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  // JetStream needs a system account in operator mode.
  const system = nkeys.createAccount();
  const operatorJwt = natsJwt(operator, {
    sub: operator.getPublicKey(),
    name: "test-operator",
    nats: { type: "operator", version: 2, system_account: system.getPublicKey() },
  });
  const accountJwt = (key: nkeys.KeyPair, name: string) =>
    natsJwt(operator, {
      sub: key.getPublicKey(),
      name,
      nats: {
        type: "account",
        version: 2,
        limits: {
          subs: -1,
          data: -1,
          payload: -1,
          imports: -1,
          exports: -1,
          wildcards: true,
          conn: -1,
          leaf: -1,
        },
      },
    });
  await Deno.writeTextFile(`${dir}/operator.jwt`, operatorJwt);
  const userOf = (issuer: nkeys.KeyPair) => {
    const user = nkeys.createUser();
    const jwt = natsJwt(issuer, {
      sub: user.getPublicKey(),
      name: "session-audit",
      nats: { type: "user", version: 2, ...UNLIMITED_USER },
    });
    return credsFile(jwt, user);
  };
  return {
    serverConfig: [
      `operator: "${dir}/operator.jwt"`,
      `system_account: ${system.getPublicKey()}`,
      "resolver: MEMORY",
      `resolver_preload: { ${account.getPublicKey()}: "${
        accountJwt(account, "audit")
      }", ${system.getPublicKey()}: "${accountJwt(system, "SYS")}" }`,
    ].join("\n"),
    trustedUser: () => userOf(account),
    strangerUser: () => userOf(nkeys.createAccount()),
  };
}

/** A private CA and a certificate for 127.0.0.1 signed by it, as PEM files. */
export interface PrivateCa {
  caFile: string;
  certFile: string;
  keyFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Makes a CA and a server certificate for `127.0.0.1` and `localhost` in `dir`. */
export async function makePrivateCa(dir: string): Promise<PrivateCa> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=session-audit test CA",
  ], dir);
  await openssl(
    ["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=nats"],
    dir,
  );
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "server.ext",
  ], dir);
  return { caFile: `${dir}/ca.pem`, certFile: `${dir}/server.pem`, keyFile: `${dir}/server.key` };
}

/** How one run of the service ended. */
export interface Exit {
  code: number;
  /** stderr, line by line. */
  lines: string[];
}

/**
 * Runs `src/main.ts` with `env` until it exits by itself; a process still
 * running after `timeoutMs` is killed (exit code 137 then fails the test,
 * instead of hanging it).
 */
export async function runToExit(env: Record<string, string>, timeoutMs = 30_000): Promise<Exit> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../src/main.ts", import.meta.url).pathname],
    // Only what Deno needs from the test's own environment: no stray NATS_* or DENO_CERT.
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      PORT: "0",
      LOG_LEVEL: "info",
      ...env,
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stderr);
  return { code: out.code, lines: text.split("\n").filter((line) => line !== "") };
}

/**
 * The lines of a log that are not JSON log records: what an operator reads
 * first. A configuration error must be exactly one such line.
 */
export function plainLines(lines: string[]): string[] {
  return lines.filter((line) => {
    try {
      const record: unknown = JSON.parse(line);
      return typeof record !== "object" || record === null;
    } catch {
      return true;
    }
  });
}

/**
 * An identity provider for tests: signing keys (RS256, ES256, EdDSA), their
 * JSON Web Key Set served by a real HTTP server on the loopback, which a
 * test can rotate, slow down, break or make answer garbage, and tokens
 * signed with those keys.
 *
 * @module
 */
import {
  type CryptoKey as JoseKey,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from "jose";

/** The asymmetric algorithms the service accepts from a key set. */
export type KeySetAlgorithm = "RS256" | "ES256" | "EdDSA";

/** A signing key of the provider. */
export interface SigningKey {
  kid: string;
  alg: KeySetAlgorithm;
  privateKey: JoseKey;
  publicKey: JoseKey;
  /** The public key as published in the set. */
  jwk: JWK;
}

/** Generates a key pair whose public half is published as `kid`. */
export async function signingKey(alg: KeySetAlgorithm, kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...await exportJWK(publicKey), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicKey, jwk };
}

/** Signs `claims` with `key` (header: alg, kid, typ JWT, plus `header`). */
export function signWith(
  key: SigningKey,
  claims: JWTPayload,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...header })
    .sign(key.privateKey);
}

/** How the key-set server answers. */
export type JwksBehaviour =
  | { kind: "keys"; keys: JWK[] }
  | { kind: "hang" }
  | { kind: "status"; status: number }
  | { kind: "body"; body: string }
  | { kind: "chunked"; body: string };

/** The provider's key-set endpoint. */
export interface JwksServer {
  /** `http://127.0.0.1:<port>/.well-known/jwks.json` */
  url: string;
  /** Requests received so far. */
  readonly requests: number;
  /** What the next requests get. */
  behave(behaviour: JwksBehaviour): void;
  /** Publishes these keys from now on. */
  publish(...keys: SigningKey[]): void;
  /** Releases hanging requests and stops the server. */
  close(): Promise<void>;
}

/** Starts the key-set server on a free loopback port, publishing `keys`. */
export function serveJwks(...keys: SigningKey[]): JwksServer {
  let behaviour: JwksBehaviour = { kind: "keys", keys: keys.map((k) => k.jwk) };
  let requests = 0;
  const release = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    requests++;
    const now = behaviour;
    switch (now.kind) {
      case "keys":
        return Response.json({ keys: now.keys });
      case "hang":
        await release.promise;
        return new Response("released", { status: 503 });
      case "status":
        return new Response("no", { status: now.status });
      case "body":
        return new Response(now.body, { headers: { "Content-Type": "application/json" } });
      case "chunked": // no Content-Length: the size is known only by reading
        return new Response(ReadableStream.from([new TextEncoder().encode(now.body)]), {
          headers: { "Content-Type": "application/json" },
        });
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/.well-known/jwks.json`,
    get requests() {
      return requests;
    },
    behave(next) {
      behaviour = next;
    },
    publish(...published) {
      behaviour = { kind: "keys", keys: published.map((k) => k.jwk) };
    },
    async close() {
      release.resolve();
      await server.shutdown();
    },
  };
}

/** A base64url text of `bytes` or of a UTF-8 string. */
export function base64url(input: Uint8Array | string): string {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** An HS256 JWT over `header` and `claims`, its MAC keyed with `secret`'s bytes. */
export async function hmacToken(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  secret: Uint8Array | string,
): Promise<string> {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const keyBytes = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  const key = await crypto.subtle.importKey(
    "raw",
    keyBytes as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(input));
  return `${input}.${base64url(new Uint8Array(mac))}`;
}

import { deepStrictEqual } from "node:assert/strict";
import { MAX_SIGNED_TOKEN_LENGTH, SignedTokenCodec } from "./signed_token.ts";

const SECRET = "signed-token-test-secret-0123456789";

Deno.test("a signed token opens to its payload only with its binding, label and secret", async () => {
  const codec = new SignedTokenCodec(SECRET, "session-audit/test/v1");
  const token = await codec.seal("payload", "binding");
  deepStrictEqual(await codec.open(token, "binding"), "payload");
  deepStrictEqual(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token), true);
  deepStrictEqual(await codec.open(token, "other"), undefined);
  deepStrictEqual(
    await new SignedTokenCodec(SECRET, "session-audit/other/v1").open(token, "binding"),
    undefined,
  );
  deepStrictEqual(
    await new SignedTokenCodec(SECRET + "x", "session-audit/test/v1").open(token, "binding"),
    undefined,
  );
});

Deno.test("garbage and over-long text are not signed tokens", async () => {
  const codec = new SignedTokenCodec(SECRET, "session-audit/test/v1");
  const long = await codec.seal("x".repeat(MAX_SIGNED_TOKEN_LENGTH), "b");
  for (const text of ["", ".", "a", "a.b", "!!.??", "=.=", "a..b", long]) {
    deepStrictEqual(await codec.open(text, "b"), undefined, text);
  }
});

Deno.test("tokens signed before the switch to node:crypto (WebCrypto HMAC) still open", async () => {
  // The construction the codec used until then: the key is HMAC(secret, label), the MAC
  // HMAC(key, "payload.binding"), both through WebCrypto. Outstanding cursors must survive.
  const enc = new TextEncoder();
  const hmacKey = async (raw: Uint8Array<ArrayBuffer>) =>
    await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const label = "session-audit/test/v1";
  const key = new Uint8Array(
    await crypto.subtle.sign("HMAC", await hmacKey(enc.encode(SECRET)), enc.encode(label)),
  );
  const b64url = (bytes: Uint8Array) =>
    btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(
      /=+$/,
      "",
    );
  const payload = b64url(enc.encode("[2,1764452672000,42]"));
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", await hmacKey(key), enc.encode(`${payload}.binding`)),
  );
  const old = `${payload}.${b64url(mac)}`;
  const codec = new SignedTokenCodec(SECRET, label);
  deepStrictEqual(codec.open(old, "binding"), "[2,1764452672000,42]");
  deepStrictEqual(codec.seal("[2,1764452672000,42]", "binding"), old);
});

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

import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { sign } from "hono/jwt";
import { TokenVerifier } from "./token_verifier.ts";
import { VerifiedTokens } from "./verified_tokens.ts";

const SECRET = "verified-tokens-test-secret-0123456789";
/** 2026-04-01T12:00:00Z in seconds. */
const NOW = Date.UTC(2026, 3, 1, 12) / 1000;

/** A verifier on a clock the test moves, in seconds. */
function verifierAt(start: number, leewaySeconds = 60) {
  const time = { seconds: start };
  const verifier = new TokenVerifier({
    secret: SECRET,
    leewaySeconds,
    clock: { now: () => time.seconds * 1000 },
  });
  return { verifier, time };
}

const claims = (times: Record<string, number>) => ({ tenant_id: crypto.randomUUID(), ...times });

Deno.test("a token verified once is refused again once it expires, as on its first use", async () => {
  const token = await sign(claims({ exp: NOW + 10 }), SECRET, "HS256");
  const { verifier, time } = verifierAt(NOW);
  equal((await verifier.verify(token)).ok, true);
  time.seconds = NOW + 69; // exp + leeway - 1: still within the leeway
  equal((await verifier.verify(token)).ok, true);
  time.seconds = NOW + 70;
  deepStrictEqual(await verifier.verify(token), {
    ok: false,
    reason: "the token has expired (exp), beyond the clock leeway",
  });
});

Deno.test("a token verified at the edge of its nbf is refused at an earlier time", async () => {
  const token = await sign(claims({ exp: NOW + 600, nbf: NOW + 60 }), SECRET, "HS256");
  const { verifier, time } = verifierAt(NOW);
  equal((await verifier.verify(token)).ok, true);
  time.seconds = NOW - 1; // the clock stepped back: nbf is beyond the leeway now
  deepStrictEqual(await verifier.verify(token), {
    ok: false,
    reason: "the token is not valid yet (nbf), beyond the clock leeway",
  });
});

Deno.test("a verified token's text altered in any way is verified afresh and refused", async () => {
  const token = await sign(claims({ exp: NOW + 600 }), SECRET, "HS256");
  const { verifier } = verifierAt(NOW);
  equal((await verifier.verify(token)).ok, true);
  const [header, payload, mac] = token.split(".");
  const flipped = mac.slice(0, -2) + (mac.at(-2) === "A" ? "B" : "A") + mac.at(-1);
  deepStrictEqual(await verifier.verify(`${header}.${payload}.${flipped}`), {
    ok: false,
    reason: "the token's signature does not verify",
  });
  const other = await sign(claims({ exp: NOW + 600 }), SECRET + "x", "HS256");
  equal((await verifier.verify(other)).ok, false);
});

Deno.test("the set keeps at most its limit of tokens and forgets nothing it should not", () => {
  throws(() => new VerifiedTokens(0), /'limit' must be a positive integer/);
  const tokens = new VerifiedTokens(2);
  tokens.remember("a", { exp: NOW + 10 }, 0);
  tokens.remember("b", { exp: NOW + 10 }, 0);
  deepStrictEqual(tokens.get("a", NOW), { exp: NOW + 10 });
  tokens.remember("c", { exp: NOW + 10, iat: NOW - 5 }, 0);
  equal(tokens.get("a", NOW), undefined, "the set started again at its limit");
  deepStrictEqual(tokens.get("c", NOW), { exp: NOW + 10, iat: NOW - 5 });
  equal(tokens.get("c", NOW - 6), undefined, "before iat");
  equal(tokens.get("c", NOW + 10), undefined, "at exp with no leeway");
  tokens.remember("no-exp", {}, 60);
  equal(tokens.get("no-exp", NOW), undefined);
});

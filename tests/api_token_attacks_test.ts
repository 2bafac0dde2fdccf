/**
 * An attacker's tokens against the read API with both key sources
 * configured (the HS256 secret and an identity provider's key set):
 * algorithm confusion, `alg: none`, a `kid` outside the set, a key embedded
 * in the header, an oversized token. Every one is a 401.
 */
import { deepStrictEqual, match } from "node:assert/strict";
import { exportSPKI } from "jose";
import type { Database } from "../src/store/client.ts";
import { SECRET, signClaims, TENANT_A } from "./api_fixture.ts";
import { answer, authApp, withTwoTenants } from "./auth_fixture.ts";
import { base64url, hmacToken, serveJwks, signingKey, signWith } from "./idp_fixture.ts";

const now = () => Math.floor(Date.now() / 1000);
const CLAIMS = () => ({ tenant_id: TENANT_A, role: "admin", exp: now() + 300 });

const appWith = (db: Database, env: Record<string, string | undefined>) => authApp(db, env).app;

/** Asserts that `token` is refused with 401 `invalid_token`, for `reason`. */
async function expect401(
  app: ReturnType<typeof appWith>,
  token: string,
  reason: RegExp,
  what: string,
): Promise<void> {
  const [status, why] = await answer(app, token);
  deepStrictEqual(status, 401, `${what}: ${why}`);
  match(why, /^invalid_token /, what);
  match(why, reason, what);
}

Deno.test("attacks on the bearer token", async (t) => {
  const [rsa, attacker] = await Promise.all([
    signingKey("RS256", "rsa-1"),
    signingKey("RS256", "rsa-1"),
  ]);
  const server = serveJwks(rsa);
  try {
    await withTwoTenants(async (db) => {
      const both = appWith(db, { API_JWKS_URL: server.url });
      const keySetOnly = appWith(db, {
        API_JWKS_URL: server.url,
        API_JWT_SECRET: undefined,
        API_CURSOR_SECRET: SECRET,
      });
      const secretOnly = appWith(db, {});
      // The legitimate tokens work, so every refusal below is the attack's doing.
      deepStrictEqual((await answer(both, await signWith(rsa, CLAIMS())))[0], 200);
      deepStrictEqual((await answer(keySetOnly, await signWith(rsa, CLAIMS())))[0], 200);
      deepStrictEqual((await answer(both, await signClaims(CLAIMS())))[0], 200);

      await t.step("HS256 signed with the provider's RSA public key as the secret", async () => {
        const pem = await exportSPKI(rsa.publicKey);
        const der = Uint8Array.from(
          atob(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s/g, "")),
          (c) => c.charCodeAt(0),
        );
        const secrets: [string, Uint8Array | string][] = [
          ["PEM", pem],
          ["PEM with a newline", `${pem}\n`],
          ["DER", der],
          ["JWK text", JSON.stringify(rsa.jwk)],
          [
            "modulus",
            Uint8Array.from(
              atob(rsa.jwk.n!.replaceAll("-", "+").replaceAll("_", "/")),
              (c) => c.charCodeAt(0),
            ),
          ],
        ];
        for (const [name, secret] of secrets) {
          for (
            const header of [{ alg: "HS256", typ: "JWT" }, {
              alg: "HS256",
              typ: "JWT",
              kid: "rsa-1",
            }]
          ) {
            const forged = await hmacToken(header, CLAIMS(), secret);
            await expect401(both, forged, /signature does not verify/, `${name}, both sources`);
            await expect401(
              keySetOnly,
              forged,
              /HS256 tokens are not accepted/,
              `${name}, key set only`,
            );
          }
        }
      });

      await t.step(
        "the key set never verifies HS256, even with a symmetric key in it",
        async () => {
          const shared = crypto.getRandomValues(new Uint8Array(32));
          server.behave({
            kind: "keys",
            keys: [rsa.jwk, { kty: "oct", kid: "shared", alg: "HS256", k: base64url(shared) }],
          });
          const forged = await hmacToken(
            { alg: "HS256", typ: "JWT", kid: "shared" },
            CLAIMS(),
            shared,
          );
          const fresh = appWith(db, {
            API_JWKS_URL: server.url,
            API_JWT_SECRET: undefined,
            API_CURSOR_SECRET: SECRET,
          });
          await expect401(fresh, forged, /HS256 tokens are not accepted/, "key set only");
          await expect401(appWith(db, { API_JWKS_URL: server.url }), forged, /signature/, "both");
          server.publish(rsa);
        },
      );

      await t.step("the HS256 secret never verifies an RS256, ES256 or EdDSA token", async () => {
        for (const alg of ["RS256", "ES256", "EdDSA"]) {
          const forged = await hmacToken({ alg, typ: "JWT" }, CLAIMS(), SECRET);
          await expect401(secretOnly, forged, new RegExp(`${alg} tokens are not accepted`), alg);
          await expect401(both, forged, /does not verify|no key|malformed/, `${alg}, both`);
        }
      });

      await t.step("alg none, in any spelling, signed or not", async () => {
        const body = base64url(JSON.stringify(CLAIMS()));
        for (const alg of ["none", "None", "NONE", "nOnE"]) {
          const head = base64url(JSON.stringify({ alg, typ: "JWT" }));
          for (const app of [both, secretOnly, keySetOnly]) {
            await expect401(app, `${head}.${body}.`, /not a compact JWT/, alg);
            await expect401(app, `${head}.${body}.AAAA`, /alg "[a-zA-Z]+" is not accepted/, alg);
          }
        }
        for (const header of [{ typ: "JWT" }, { alg: ["HS256"] }, { alg: null }]) {
          const forged = await hmacToken(header, CLAIMS(), SECRET);
          await expect401(both, forged, /is not accepted/, JSON.stringify(header));
        }
      });

      await t.step("a kid that is not in the set", async () => {
        const stranger = await signingKey("ES256", "not-published");
        await expect401(
          both,
          await signWith(stranger, CLAIMS()),
          /no key .* matches/,
          "unknown kid",
        );
      });

      await t.step(
        "a published kid signed with another key, or with the key embedded in the header",
        async () => {
          await expect401(
            both,
            await signWith(attacker, CLAIMS()),
            /signature does not verify/,
            "kid",
          );
          const embedded = await signWith(attacker, CLAIMS(), { jwk: attacker.jwk });
          await expect401(both, embedded, /signature does not verify/, "embedded jwk");
          const embeddedOnly = await signWith(attacker, CLAIMS(), {
            kid: "fresh",
            jwk: attacker.jwk,
          });
          await expect401(both, embeddedOnly, /no key .* matches/, "embedded jwk, new kid");
        },
      );

      await t.step("an oversized token is refused before it is parsed", async () => {
        const big = await signClaims({ ...CLAIMS(), padding: "x".repeat(9_000) });
        await expect401(both, big, /longer than 8192 characters/, "9 KB");
        // The limit is the header's length: a large token under it is read as usual.
        const large = await signClaims({ ...CLAIMS(), padding: "x".repeat(5_000) });
        deepStrictEqual((await answer(both, large))[0], 200);
      });
    });
  } finally {
    await server.close();
  }
});

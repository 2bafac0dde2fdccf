/**
 * Runs the adversarial matrix on one fixture: every move on a fresh copy of
 * the database, then the three verifiers in the fixture's two
 * configurations (with and without the independent copy), each verdict
 * compared with the matrix.
 *
 * @module
 */
import { deepStrictEqual } from "node:assert/strict";
import { Attacker } from "./integrity_attacker.ts";
import { applies, expected, MOVES, NA } from "./integrity_matrix.ts";
import { buildFixture, type Config, copyDatabase, verdicts } from "./integrity_matrix_kit.ts";

/** Registers the matrix's test on the fixture signed so, purged or not. */
export function matrixTest(signing: "ed25519" | "none", purged: boolean): void {
  const configs: Config[] = signing === "ed25519" ? ["key", "key+copy"] : ["none", "copy"];
  const name = `adversarial matrix, ${
    signing === "ed25519" ? "signed with Ed25519" : "unsigned"
  }, ${
    purged ? "after a retention purge" : "no purge"
  }: each move is reported as the matrix says, by /v1/integrity, deno task verify and verify --export`;
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false }, async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "session-audit-matrix-" });
    try {
      const fixture = await buildFixture(dir, signing, purged);
      await t.step("untouched: every verifier says ok", async () => {
        for (const config of configs) {
          deepStrictEqual(await verdicts(fixture, fixture.path, config), {
            online: "ok",
            database: "ok",
            exported: "ok",
          }, config);
        }
      });
      for (const [i, move] of MOVES.entries()) {
        if (!applies(move, purged) || (move.signedOnly && signing === "none")) continue;
        await t.step(`${move.group}: ${move.name}`, async () => {
          const path = await copyDatabase(fixture, `move-${i}`);
          const tamper = move.tamper;
          if (tamper) await Attacker.with(path, (a) => tamper(a, fixture));
          const want = expected(move, purged);
          const verdict = (o: string) => (o === NA ? "ok" : o);
          const found: Record<string, unknown> = {};
          const wanted: Record<string, unknown> = {};
          for (const config of configs) {
            found[config] = await verdicts(fixture, path, config, move.editExport);
            wanted[config] = {
              online: verdict(want.db[config]),
              database: verdict(want.db[config]),
              exported: verdict(want.export[config]),
            };
          }
          deepStrictEqual(found, wanted);
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

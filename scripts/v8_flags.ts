/**
 * The V8 flags of the service by `ROLE`, printed for `deno task start`
 * (`deno run $(deno run --allow-env=ROLE scripts/v8_flags.ts) … src/main.ts`):
 * a process that ingests keeps its young generation small and lets its heap
 * double before a full collection (peak memory while draining a backlog); a
 * read-only replica (`ROLE=api`) runs with V8's defaults, because the small
 * young generation makes every request pay for about ten times as many
 * scavenges (bench/README.md, "where the memory goes").
 *
 * @module
 */
import { ConfigError } from "../src/config_error.ts";
import { type Role, ROLES } from "../src/config.ts";
import { oneOf } from "../src/config_values.ts";

/** The flags of the roles that ingest (`all`, `ingest`, and any value `main.ts` will refuse). */
export const INGEST_V8_FLAGS: readonly string[] = Object.freeze([
  "--max-semi-space-size=1",
  "--heap-growing-percent=100",
]);

/**
 * The `deno run` arguments that set the V8 flags for `role` (none for `api`),
 * `ROLE` read as the service reads it; a value it refuses gets the ingest
 * flags (the service then stops with exit 2 and says why).
 */
export function v8FlagArgs(role: string | undefined): string[] {
  let parsed: Role = "all";
  try {
    parsed = oneOf({ ROLE: role }, "ROLE", ROLES, "all");
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
  }
  return parsed === "api" ? [] : [`--v8-flags=${INGEST_V8_FLAGS.join(",")}`];
}

if (import.meta.main) {
  const args = v8FlagArgs(Deno.env.get("ROLE"));
  if (args.length > 0) console.log(args.join(" "));
}

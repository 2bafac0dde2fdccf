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

/** The flags of the roles that ingest (`all`, `ingest`, and any value `main.ts` will refuse). */
export const INGEST_V8_FLAGS: readonly string[] = Object.freeze([
  "--max-semi-space-size=1",
  "--heap-growing-percent=100",
]);

/** The `deno run` arguments that set the V8 flags for `role` (none for `api`). */
export function v8FlagArgs(role: string | undefined): string[] {
  if ((role ?? "all").trim().toLowerCase() === "api") return [];
  return [`--v8-flags=${INGEST_V8_FLAGS.join(",")}`];
}

if (import.meta.main) {
  const args = v8FlagArgs(Deno.env.get("ROLE"));
  if (args.length > 0) console.log(args.join(" "));
}

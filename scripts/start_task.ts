/**
 * The command line of `deno task start`, read from deno.json: the one place
 * that says how the service runs (permissions, V8 flags by `ROLE`). `deno
 * task dev` and the benchmark start the service with it.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { v8FlagArgs } from "./v8_flags.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The command substitution in the start task that prints the V8 flags of `ROLE`. */
export const V8_FLAGS_SUBSTITUTION = "$(deno run --allow-env=ROLE scripts/v8_flags.ts)";

/**
 * The arguments of `deno task start` (deno.json) for a process whose `ROLE`
 * is `role`, so that the benchmark runs the service exactly as it is
 * documented to run: same permissions, same V8 flags.
 */
export async function startTaskArgs(role?: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const task = String(config.tasks?.start ?? "").trim();
  const words = task.replace(V8_FLAGS_SUBSTITUTION, v8FlagArgs(role).join(" ")).split(/\s+/)
    .filter((w) => w !== "");
  if (words[0] !== "deno" || words.at(-1) !== "src/main.ts" || words.some((w) => w.includes("$"))) {
    throw new Error(`deno.json: the start task is not "deno … src/main.ts": ${task}`);
  }
  return words.slice(1);
}

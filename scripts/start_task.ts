/**
 * The command line of `deno task start`, read from deno.json: the one place
 * that says how the service runs (permissions, V8 flags). `deno task dev` and
 * the benchmark start the service with it.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * The arguments of `deno task start` (deno.json), so that the benchmark runs
 * the service exactly as it is documented to run: same permissions, same
 * V8 flags.
 */
export async function startTaskArgs(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const words = String(config.tasks?.start ?? "").trim().split(/\s+/);
  if (words[0] !== "deno" || words.at(-1) !== "src/main.ts") {
    throw new Error(`deno.json: the start task is not "deno … src/main.ts": ${words.join(" ")}`);
  }
  return words.slice(1);
}

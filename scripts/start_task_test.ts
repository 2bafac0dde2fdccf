import { deepStrictEqual, equal } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startTaskArgs, V8_FLAGS_SUBSTITUTION } from "./start_task.ts";
import { INGEST_V8_FLAGS } from "./v8_flags.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const INGEST_FLAGS = `--v8-flags=${INGEST_V8_FLAGS.join(",")}`;

/** What the start task's command substitution prints for `role`, run as `deno task` runs it. */
async function substituted(role: string | undefined): Promise<string> {
  const command = V8_FLAGS_SUBSTITUTION.slice(2, -1).split(" ");
  const env: Record<string, string> = { PATH: Deno.env.get("PATH") ?? "" };
  if (role !== undefined) env.ROLE = role;
  const out = await new Deno.Command(Deno.execPath(), {
    args: command.slice(1),
    cwd: ROOT,
    clearEnv: true,
    env: { ...env, HOME: Deno.env.get("HOME") ?? "/tmp" },
  }).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("a process that ingests starts with the small young generation; a read replica with V8's defaults", async () => {
  for (const role of [undefined, "all", "ingest", "INGEST"]) {
    equal(await substituted(role), INGEST_FLAGS, `ROLE=${role}`);
    const args = await startTaskArgs(role);
    deepStrictEqual([args[0], args[1], args.at(-1)], ["run", INGEST_FLAGS, "src/main.ts"]);
  }
  for (const role of ["api", "API"]) {
    equal(await substituted(role), "", `ROLE=${role}`);
    const args = await startTaskArgs(role);
    equal(args.some((a) => a.startsWith("--v8-flags")), false, args.join(" "));
    deepStrictEqual([args[0], args.at(-1)], ["run", "src/main.ts"]);
  }
});

Deno.test("the start task's permissions are the same whatever the role", async () => {
  const permissions = (args: string[]) => args.filter((a) => a.startsWith("--allow-"));
  deepStrictEqual(permissions(await startTaskArgs("api")), permissions(await startTaskArgs("all")));
  equal(permissions(await startTaskArgs("all")).length > 0, true);
});

Deno.test("the compiled executables carry the flags of their roles", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks;
  equal(String(tasks.compile).split(" ").includes(INGEST_FLAGS), true, tasks.compile);
  equal(String(tasks["compile:api"]).includes("--v8-flags"), false, tasks["compile:api"]);
});

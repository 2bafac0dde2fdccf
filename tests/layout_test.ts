import { deepStrictEqual } from "node:assert/strict";
import { relative } from "node:path";

const ROOT = new URL("../", import.meta.url);

/** The modules under `src/`, tests aside, as repository paths. */
async function modules(dir = new URL("src/", ROOT)): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) found.push(...await modules(url));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
      found.push(relative(ROOT.pathname, url.pathname));
    }
  }
  return found.sort();
}

Deno.test("docs/layout.md has one line for every module under src/, and none for a module gone", async () => {
  const layout = await Deno.readTextFile(new URL("docs/layout.md", ROOT));
  const listed = [...layout.matchAll(/^\| `(src\/[^`]+\.ts)`/gm)].map((m) => m[1]).sort();
  deepStrictEqual(listed, await modules());
});

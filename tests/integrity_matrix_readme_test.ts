/**
 * The README's adversarial matrix is the one the tests run: its table is
 * `renderMatrix()` of `integrity_matrix.ts`, cell for cell.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { renderMatrix } from "./integrity_matrix.ts";

const START = "<!-- adversarial matrix: rendered by `deno run tests/integrity_matrix.ts` -->";
const END = "<!-- end of the adversarial matrix -->";

/** A markdown table's cells, row by row, without the separator row. */
function cells(table: string): string[][] {
  return table.trim().split("\n")
    .map((line) => line.trim().replace(/^\||\|$/g, "").split(" | ").map((c) => c.trim()))
    .filter((row) => !row.every((c) => /^:?-+:?$/.test(c)));
}

Deno.test("the README's adversarial matrix is the matrix the tests run", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  ok(start >= 0 && end > start, "the README marks the matrix");
  deepStrictEqual(cells(readme.slice(start + START.length, end)), cells(renderMatrix()));
});

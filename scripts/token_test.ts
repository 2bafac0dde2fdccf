import { deepStrictEqual, throws } from "node:assert/strict";
import { parseTtl } from "./token.ts";

Deno.test("--ttl takes seconds or a number with a unit", () => {
  deepStrictEqual(parseTtl("900"), 900);
  deepStrictEqual(parseTtl("30m"), 1800);
  deepStrictEqual(parseTtl("12h"), 43200);
  deepStrictEqual(parseTtl("7d"), 604800);
  for (const bad of ["", "1y", "-5", "1.5h", "h"]) throws(() => parseTtl(bad), /'--ttl'/);
});

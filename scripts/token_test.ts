import { assertEquals } from "../tests/assert.ts";
import { throws } from "node:assert/strict";
import { parseTtl } from "./token.ts";

Deno.test("--ttl takes seconds or a number with a unit", () => {
  assertEquals(parseTtl("900"), 900);
  assertEquals(parseTtl("30m"), 1800);
  assertEquals(parseTtl("12h"), 43200);
  assertEquals(parseTtl("7d"), 604800);
  for (const bad of ["", "1y", "-5", "1.5h", "h"]) throws(() => parseTtl(bad), /'--ttl'/);
});

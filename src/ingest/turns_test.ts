import { equal } from "node:assert/strict";
import { setImmediate } from "node:timers";
import { nextTurn } from "./turns.ts";

Deno.test("nextTurn lets the event loop run what was already waiting", async () => {
  let ran = false;
  setImmediate(() => ran = true);
  await nextTurn();
  equal(ran, true, "resolved before the event loop turned");
});

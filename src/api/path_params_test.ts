import { equal } from "node:assert/strict";
import { Hono } from "hono";
import * as v from "valibot";
import {
  DEAD_LETTER_ID_PARAM,
  DeadLetterIdSchema,
  SESSION_ID_PARAM,
  SessionIdSchema,
} from "./path_params.ts";

const SESSION = "3f2b8c1e-7d4a-4e9b-9c0d-1a2b3c4d5e6f";

/** `text` with about one character in fifty replaced from `alphabet`. */
function mutate(text: string, alphabet: string): string {
  return Array.from(
    text,
    (c) => Math.random() < 0.02 ? alphabet[Math.floor(Math.random() * alphabet.length)] : c,
  ).join("");
}

/** Whether `app` routes `path` to its constrained route (answering "route"). */
async function routed(app: Hono, path: string, method = "GET"): Promise<boolean> {
  const res = await app.request(path, { method });
  return (await res.text()) === "route";
}

Deno.test("the session_id route pattern admits exactly what SessionIdSchema (the OpenAPI schema) accepts", async () => {
  const app = new Hono();
  app.get(`/s/${SESSION_ID_PARAM}`, (c) => c.text("route"));
  const samples = [
    SESSION,
    SESSION.toUpperCase(),
    SESSION.replaceAll("-", ""),
    `${SESSION}0`,
    SESSION.slice(1),
    SESSION.replace("-", "_"),
    SESSION.replace("3", "g"),
    SESSION.replace("3", "\u0663"), // an Arabic-Indic digit three
  ];
  for (let i = 0; i < 1_000; i++) samples.push(mutate(SESSION, "0123456789abcdefABCDEF-g_."));
  for (const text of samples) {
    equal(
      await routed(app, `/s/${encodeURIComponent(text)}`),
      v.is(SessionIdSchema, text),
      JSON.stringify(text),
    );
  }
});

Deno.test("the dead-letter id route pattern admits positive integers of at most 15 digits", async () => {
  const app = new Hono();
  app.post(`/d/${DEAD_LETTER_ID_PARAM}/replay`, (c) => c.text("route"));
  const expected: [string, boolean][] = [
    ["1", true],
    ["10", true],
    ["9".repeat(15), true],
    ["0", false],
    ["01", false],
    ["-1", false],
    ["1.5", false],
    ["1e3", false],
    ["9".repeat(16), false],
    ["", false],
  ];
  for (const [text, admitted] of expected) {
    equal(await routed(app, `/d/${text}/replay`, "POST"), admitted, JSON.stringify(text));
    equal(v.is(DeadLetterIdSchema, text), admitted, JSON.stringify(text));
  }
});

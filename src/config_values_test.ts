import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import {
  integer,
  list,
  longEnough,
  matching,
  oneOf,
  read,
  secret,
  share,
  url,
} from "./config_values.ts";

/** Runs `reading` expecting a one-line ConfigError for `variable` whose message matches `message`. */
function refuses(reading: () => unknown, variable: string, message: RegExp): void {
  throws(reading, (err) => {
    ok(err instanceof ConfigError, String(err));
    equal(err.variable, variable);
    ok(err.message.startsWith(`${variable}: `), err.message);
    ok(!/[\r\n]/.test(err.message), err.message);
    ok(message.test(err.message), `${err.message} does not match ${message}`);
    return true;
  });
}

Deno.test("read: trimmed, and a blank value is unset", () => {
  equal(read({ A: " x " }, "A"), "x");
  equal(read({ A: "  " }, "A"), undefined);
  equal(read({}, "A"), undefined);
});

Deno.test("integer: the fallback when unset, digits within bounds, else its unit, bounds and value", () => {
  const options = { fallback: 20, min: 2, max: 3600, unit: "seconds", note: "a hint" };
  equal(integer({}, "N", options), 20);
  equal(integer({ N: " 2 " }, "N", options), 2);
  equal(integer({ N: "3600" }, "N", options), 3600);
  for (const bad of ["1", "3601", "-4", "1.5", "2s", "0x10", "1e3", "99999999999999999999"]) {
    refuses(() => integer({ N: bad }, "N", options), "N", /seconds from 2 to 3600 \(a hint\)/);
  }
  refuses(() => integer({ N: "x" }, "N", { fallback: 1, min: 1, max: 9 }), "N", /an integer.*"x"/);
});

Deno.test("share: a number from 0 to 1", () => {
  equal(share({}, "S", 0.25), 0.25);
  equal(share({ S: ".5" }, "S", 0), 0.5);
  equal(share({ S: "1" }, "S", 0), 1);
  for (const bad of ["1.5", "-0.1", "half", "2"]) {
    refuses(() => share({ S: bad }, "S", 0), "S", /from 0 to 1: current value is/);
  }
});

Deno.test("oneOf: any case, the fallback when unset, else the choices", () => {
  const levels = ["debug", "info"] as const;
  equal(oneOf({}, "L", levels, "info"), "info");
  equal(oneOf({ L: "DEBUG" }, "L", levels, "info"), "debug");
  refuses(() => oneOf({ L: "verbose" }, "L", levels, "info"), "L", /one of debug, info.*"verbose"/);
});

Deno.test("matching: the value when it has the form, else what it must be", () => {
  equal(matching("M", "abc", /^[a-c]+$/, "letters a to c"), "abc");
  refuses(() => matching("M", "abd", /^[a-c]+$/, "letters a to c"), "M", /letters a to c.*"abd"/);
});

Deno.test("secret and longEnough: taken as given, refused by length without the value", () => {
  equal(secret({}, "K", 4), undefined);
  equal(secret({ K: " ab " }, "K", 4), " ab ");
  equal(longEnough("K", "abcd", 4), "abcd");
  refuses(() => secret({ K: "abc" }, "K", 4), "K", /at least 4 characters: current length is 3$/);
});

Deno.test("url: one of the schemes, quoted without its credentials when refused", () => {
  equal(url("U", "https://a.example/x", ["https:"]).host, "a.example");
  refuses(() => url("U", "not a url", ["https:"]), "U", /starting with https:\/\/.*"not a url"/);
  refuses(() => url("U", "http://x", ["ws:", "file:"], " (hint)"), "U", /ws:\/\/, file: \(hint\)/);
  refuses(
    () => url("U", "http://alice:hunter2@a.example", ["https:"]),
    "U",
    /"http:\/\/\*\*\*@a\.example"$/,
  );
});

Deno.test("list: unset is undefined; items trimmed and each checked; naming none is refused", () => {
  equal(list({}, "L", (_, item) => item), undefined);
  deepStrictEqual(list({ L: " a, b ,," }, "L", (_, item) => item.toUpperCase()), ["A", "B"]);
  refuses(() => list({ L: " , " }, "L", (_, item) => item), "L", /names nothing/);
  refuses(
    () => list({ L: "a,bad" }, "L", (name, item) => matching(name, item, /^a$/, "a")),
    "L",
    /"bad"/,
  );
});

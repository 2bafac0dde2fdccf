import { equal, ok } from "node:assert/strict";
import { formatRfc3339, parseRfc3339 } from "./rfc3339.ts";

const TEN_AM = Date.UTC(2026, 2, 12, 10, 0, 0);

Deno.test("a UTC time with Z parses to its epoch milliseconds", () => {
  equal(parseRfc3339("2026-03-12T10:00:00Z"), TEN_AM);
  equal(parseRfc3339("1970-01-01T00:00:00Z"), 0);
});

Deno.test("a +hh:mm offset is ahead of UTC, a -hh:mm offset behind", () => {
  equal(parseRfc3339("2026-03-12T12:00:00+02:00"), TEN_AM);
  equal(parseRfc3339("2026-03-12T04:30:00-05:30"), TEN_AM);
  equal(parseRfc3339("2026-03-12T10:00:00+00:00"), TEN_AM);
  equal(parseRfc3339("2026-03-12T10:00:00-00:00"), TEN_AM);
});

Deno.test("an offset can carry the time across midnight and the year end", () => {
  equal(parseRfc3339("2026-01-01T01:00:00+02:00"), Date.UTC(2025, 11, 31, 23, 0, 0));
});

Deno.test("fractions of a second keep milliseconds and truncate finer digits", () => {
  equal(parseRfc3339("2026-03-12T10:00:00.5Z"), TEN_AM + 500);
  equal(parseRfc3339("2026-03-12T10:00:00.25Z"), TEN_AM + 250);
  equal(parseRfc3339("2026-03-12T10:00:00.123Z"), TEN_AM + 123);
  equal(parseRfc3339("2026-03-12T10:00:00.123999999Z"), TEN_AM + 123);
  equal(parseRfc3339("2026-03-12T12:00:00.999+02:00"), TEN_AM + 999);
});

Deno.test("a fraction with no digits or more than nine is rejected", () => {
  equal(parseRfc3339("2026-03-12T10:00:00.Z"), undefined);
  equal(parseRfc3339("2026-03-12T10:00:00.1234567890Z"), undefined);
});

Deno.test("29 February exists in leap years only (divisible by 4, centuries by 400)", () => {
  equal(parseRfc3339("2024-02-29T00:00:00Z"), Date.UTC(2024, 1, 29));
  equal(parseRfc3339("2000-02-29T00:00:00Z"), Date.UTC(2000, 1, 29));
  equal(parseRfc3339("2026-02-29T00:00:00Z"), undefined);
  equal(parseRfc3339("1900-02-29T00:00:00Z"), undefined);
});

Deno.test("impossible dates are rejected rather than rolled over", () => {
  equal(parseRfc3339("2026-02-30T00:00:00Z"), undefined);
  equal(parseRfc3339("2026-04-31T00:00:00Z"), undefined);
  equal(parseRfc3339("2026-03-32T00:00:00Z"), undefined);
  equal(parseRfc3339("2026-03-00T00:00:00Z"), undefined);
  equal(parseRfc3339("2026-13-01T00:00:00Z"), undefined);
  equal(parseRfc3339("2026-00-01T00:00:00Z"), undefined);
  equal(parseRfc3339("2026-12-31T00:00:00Z"), Date.UTC(2026, 11, 31));
});

Deno.test("hour 24, minute 60 and second 60 are rejected", () => {
  equal(parseRfc3339("2026-03-12T24:00:00Z"), undefined);
  equal(parseRfc3339("2026-03-12T10:60:00Z"), undefined);
  equal(parseRfc3339("2026-03-12T10:00:60Z"), undefined);
  equal(parseRfc3339("2026-03-12T23:59:59Z"), Date.UTC(2026, 2, 12, 23, 59, 59));
});

Deno.test("an offset beyond 23:59 is rejected", () => {
  equal(parseRfc3339("2026-03-12T10:00:00+24:00"), undefined);
  equal(parseRfc3339("2026-03-12T10:00:00+02:60"), undefined);
});

Deno.test("a missing T, offset or seconds is rejected", () => {
  equal(parseRfc3339("2026-03-12 10:00:00Z"), undefined);
  equal(parseRfc3339("2026-03-1210:00:00Z"), undefined);
  equal(parseRfc3339("2026-03-12T10:00:00"), undefined);
  equal(parseRfc3339("2026-03-12T10:00Z"), undefined);
  equal(parseRfc3339("2026-03-12"), undefined);
  equal(parseRfc3339("2026-03-12T10:00:00+0200"), undefined);
  equal(parseRfc3339("2026-03-12T10:00:00+02"), undefined);
});

Deno.test("lower-case t and z are accepted, as RFC 3339 §5.6 allows", () => {
  equal(parseRfc3339("2026-03-12t10:00:00z"), TEN_AM);
  equal(parseRfc3339("2026-03-12t12:00:00+02:00"), TEN_AM);
});

Deno.test("garbage and near misses are rejected", () => {
  for (
    const text of [
      "",
      "hello",
      "0",
      "1741773600",
      " 2026-03-12T10:00:00Z",
      "2026-03-12T10:00:00Z ",
      "2026-03-12T10:00:00Z\n",
      "26-03-12T10:00:00Z",
      "+2026-03-12T10:00:00Z",
      "2026-3-12T10:00:00Z",
      "2026-03-12T1:00:00Z",
      "２０２６-03-12T10:00:00Z",
      "Thu, 12 Mar 2026 10:00:00 GMT",
    ]
  ) {
    equal(parseRfc3339(text), undefined, `accepted ${JSON.stringify(text)}`);
  }
});

Deno.test("years before 100 are not mapped into the 1900s", () => {
  equal(parseRfc3339("0001-01-01T00:00:00Z"), -62_135_596_800_000);
  equal(parseRfc3339("0099-12-31T23:59:59Z"), new Date("0099-12-31T23:59:59Z").getTime());
});

Deno.test("formatRfc3339 writes UTC with seconds precision, milliseconds only when present", () => {
  equal(formatRfc3339(TEN_AM), "2026-03-12T10:00:00Z");
  equal(formatRfc3339(TEN_AM + 5), "2026-03-12T10:00:00.005Z");
  equal(formatRfc3339(0), "1970-01-01T00:00:00Z");
});

Deno.test("formatting then parsing gives back the same instant, in UTC", () => {
  for (
    const text of [
      "2026-03-12T10:00:00Z",
      "2024-02-29T23:59:59Z",
      "2026-03-12T10:00:00.123Z",
      "1999-12-31T00:00:00Z",
    ]
  ) {
    equal(formatRfc3339(parseRfc3339(text)!), text);
  }
  equal(formatRfc3339(parseRfc3339("2026-03-12T12:00:00+02:00")!), "2026-03-12T10:00:00Z");
  equal(formatRfc3339(parseRfc3339("2026-03-12t10:00:00.5z")!), "2026-03-12T10:00:00.500Z");
});

/** RFC 3339's date-time grammar as a regular expression: the reference for the parser's shape. */
const GRAMMAR = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

Deno.test("the parser accepts exactly the grammar's strings, on 20,000 mutated times", () => {
  const seeds = [
    "2026-03-12T10:00:00Z",
    "2024-02-29t23:59:59.123456789+05:30",
    "0001-01-01T00:00:00.5-00:00",
  ];
  const alphabet = "0123456789-:.TtZz+ x";
  let state = 42;
  const random = (n: number) => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648; // deterministic
    return state % n;
  };
  let accepted = 0;
  for (let i = 0; i < 20_000; i++) {
    let text = seeds[random(seeds.length)];
    for (let edits = random(3); edits >= 0; edits--) {
      const at = random(text.length + 1);
      const c = alphabet[random(alphabet.length)];
      const kind = random(3); // replace, insert, delete
      text = text.slice(0, at) + (kind === 2 ? "" : c) + text.slice(kind === 1 ? at : at + 1);
    }
    const parsed = parseRfc3339(text);
    if (parsed !== undefined) {
      accepted++;
      ok(GRAMMAR.test(text), `accepted ${JSON.stringify(text)}, which is not RFC 3339`);
      // Where Date.parse reads it the same (a possible date), both agree to the millisecond.
      const reference = Date.parse(text.toUpperCase().replace(/(\.\d{3})\d+/, "$1"));
      equal(parsed, reference, `${text}: ${parsed} against Date.parse ${reference}`);
    } else if (GRAMMAR.test(text)) {
      // Refused although well-formed: only for an impossible date, time or offset.
      const [, month, day, hour, minute, second] = text.match(
        /^\d{4}-(\d\d)-(\d\d).(\d\d):(\d\d):(\d\d)/,
      )!
        .map(Number);
      const offset = text.match(/([+-])(\d\d):(\d\d)$/);
      ok(
        month < 1 || month > 12 || day < 1 || day > 28 || hour > 23 || minute > 59 ||
          second > 59 || (offset !== null && (Number(offset[2]) > 23 || Number(offset[3]) > 59)),
        `refused ${JSON.stringify(text)}, a possible time`,
      );
    }
  }
  ok(
    accepted > 1_000,
    `only ${accepted} of the mutated strings were valid: the test proves little`,
  );
});

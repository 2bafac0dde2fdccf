import { deepStrictEqual } from "node:assert/strict";
import { csvCell, csvRecord } from "./csv.ts";

Deno.test("csvCell quotes per RFC 4180 and neutralises formulas", () => {
  const cases: [string | number | null, string][] = [
    [null, ""],
    [900, "900"],
    ["plain", "plain"],
    ["", ""],
    ["a,b", '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ["two\nlines", '"two\nlines"'],
    ["cr\rhere", '"cr\rhere"'],
    ["=1+1", "'=1+1"],
    ["+1", "'+1"],
    ["-1", "'-1"],
    ["@SUM(A1)", "'@SUM(A1)"],
    ["\tx", "'\tx"],
    ["\rx", `"'\rx"`],
    ['=HYPERLINK("http://x","y")', `"'=HYPERLINK(""http://x"",""y"")"`],
    ["a=b", "a=b"],
    ["2001:db8::1", "2001:db8::1"],
  ];
  for (const [input, expected] of cases) deepStrictEqual(csvCell(input), expected, String(input));
});

Deno.test("csvRecord joins with commas and ends with CRLF", () => {
  deepStrictEqual(csvRecord(["a", null, 3, "x,y"]), 'a,,3,"x,y"\r\n');
});

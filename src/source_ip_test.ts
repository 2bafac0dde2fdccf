import { deepStrictEqual, equal } from "node:assert/strict";
import { isIP } from "node:net";
import { parseSourceIp } from "./source_ip.ts";

/** `[ip, port]` of a text that is an address, or its problem. */
function parsed(text: string): [string, number | null] | string {
  const result = parseSourceIp(text);
  return result.ok ? [result.ip, result.port] : result.problem;
}

Deno.test("Go's RemoteAddr forms: host:port and [v6]:port give the address and the port", () => {
  deepStrictEqual(parsed("198.51.100.23:53122"), ["198.51.100.23", 53122]);
  deepStrictEqual(parsed("[2001:db8::7]:443"), ["2001:db8::7", 443]);
  deepStrictEqual(parsed("[::1]:0"), ["::1", 0]);
  deepStrictEqual(parsed("127.0.0.1:65535"), ["127.0.0.1", 65535]);
  deepStrictEqual(parsed("[2001:db8::7]"), ["2001:db8::7", null]);
});

Deno.test("IPv6 is written the RFC 5952 way: lower case, no leading zeros, longest zero run as ::", () => {
  const cases: Array<[string, string]> = [
    ["2001:DB8::7", "2001:db8::7"],
    ["2001:0db8:0000:0000:0000:0000:0000:0007", "2001:db8::7"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first of two equal runs
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longer run, though later
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["::ffff:c000:0201", "192.0.2.1"], // IPv4-mapped, in hex
    ["::FFFF:192.0.2.1", "192.0.2.1"],
    ["::192.0.2.1", "::c000:201"], // IPv4-compatible (deprecated): not mapped, stays IPv6
    ["64:ff9b::192.0.2.1", "64:ff9b::c000:201"],
    ["fe80::1%eth0", "fe80::1"],
    ["fe80::1%1", "fe80::1"],
  ];
  for (const [text, canonical] of cases) deepStrictEqual(parsed(text), [canonical, null], text);
});

Deno.test("surrounding white space is trimmed, inner white space is not an address", () => {
  deepStrictEqual(parsed(" \t203.0.113.7\r\n"), ["203.0.113.7", null]);
  deepStrictEqual(parsed(" [::1]:22 "), ["::1", 22]);
  equal(parsed("203.0.113 .7"), "not an IP address");
});

Deno.test("what X-Forwarded-For and hand-written headers bring is named as not an address", () => {
  const cases: Array<[string, string]> = [
    ["", "not an IP address"],
    ["unknown", "not an IP address"],
    ["localhost", "not an IP address"],
    ["localhost:8080", "not an IP address"],
    ["203.0.113.7, 198.51.100.1", "a list of addresses, not one"],
    ["203.0.113.7:", "not a port number (0-65535)"],
    ["203.0.113.7:65536", "not a port number (0-65535)"],
    ["203.0.113.7:0x50", "not a port number (0-65535)"],
    ["203.0.113.7:123456", "not a port number (0-65535)"],
    ["[2001:db8::7]:", "not a port number (0-65535)"],
    ["[2001:db8::7]443", "not an IP address"],
    ["[2001:db8::7", "not an IP address"],
    ["[203.0.113.7]:80", "not an IP address"],
    ["fe80::1%", "not an IP address"],
    ["::ffff:01.2.3.4", "not an IP address"],
    ["1:2:3:4:5:6:7:8:9", "not an IP address"],
    ["1::2::3", "not an IP address"],
    [":1", "not an IP address"],
    ["1:", "not an IP address"],
    ["1:2:3:4:5:6:7::8", "not an IP address"],
    ["12345::1", "not an IP address"],
  ];
  for (const [text, problem] of cases) equal(parsed(text), problem, JSON.stringify(text));
});

Deno.test("a bare address is accepted exactly when node:net's isIP accepts it, and its canonical text is canonical again", () => {
  const samples = [
    "0.0.0.0",
    "255.255.255.255",
    "256.1.1.1",
    "1.2.3",
    "1.2.3.4.5",
    "01.2.3.4",
    "1.2.3.04",
    "1..2.3",
    "::",
    "::1",
    "1::",
    ":::",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:1.2.3.4",
    "1:2:3:4:5:6:7:1.2.3.4",
    "::1.2.3.4",
    "::ffff:1.2.3.256",
    "2001:db8::g",
    "2001:db8:::1",
    "abcd:EF01::",
    "1:2:3:4:5:6:7::",
    "::2:3:4:5:6:7:8",
  ];
  // And random strings over the characters an address is made of.
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const alphabet = "0123456789abcdefABCDEF:.";
  for (let i = 0; i < 5_000; i++) {
    const length = 1 + Math.floor(random() * 20);
    samples.push(
      Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join(""),
    );
  }
  for (const text of samples) {
    const result = parseSourceIp(text);
    equal(result.ok && result.port === null, isIP(text) !== 0, text);
    if (result.ok) {
      // The canonical text is an address itself, and canonical again.
      equal(isIP(result.ip) !== 0, true, `${text} -> ${result.ip}`);
      deepStrictEqual(parsed(result.ip), [result.ip, null], `${text} -> ${result.ip}`);
    }
  }
});

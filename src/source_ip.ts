/**
 * The client address of a session end (`source_ip`), in every form the
 * relay writes it (SPEC §1): a bare IPv4 or IPv6 address, Go's `RemoteAddr`
 * (`host:port`, `[v6]:port`), and whatever a client put in
 * `X-Forwarded-For`. Parsed into one canonical address and an optional
 * port, or a problem naming why the text is not an address.
 *
 * Canonical form: IPv4 as dotted decimal; IPv6 as RFC 5952 text (lower
 * case, no leading zeros, the longest run of two or more zero groups as
 * `::`); an IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) as the IPv4
 * address it maps; a zone (`fe80::1%eth0`) dropped, since it names an
 * interface of the relay's host, meaningless anywhere else. Surrounding
 * white space is trimmed.
 *
 * Read character by character, without regular expressions: it runs once
 * for every event ingested.
 *
 * @module
 */

/** An address, its port when the text carried one. */
export interface SourceAddress {
  ok: true;
  /** The canonical address. */
  ip: string;
  /** 0-65535, or null when the text had no port. */
  port: number | null;
}

/** Why a text is not a client address. */
export interface NotAnAddress {
  ok: false;
  problem: string;
}

/** Problems, as stored in anomalies. */
export const SOURCE_IP_PROBLEMS = {
  notAddress: "not an IP address",
  list: "a list of addresses, not one",
  port: "not a port number (0-65535)",
} as const;

const NOT_ADDRESS: NotAnAddress = Object.freeze({
  ok: false,
  problem: SOURCE_IP_PROBLEMS.notAddress,
});
const LIST: NotAnAddress = Object.freeze({ ok: false, problem: SOURCE_IP_PROBLEMS.list });
const BAD_PORT: NotAnAddress = Object.freeze({ ok: false, problem: SOURCE_IP_PROBLEMS.port });

const COLON = 58;
const DOT = 46;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * The IPv4 address written in `text` from `start` to `end` as a 32-bit
 * number, or -1: four decimal octets of at most 255, without leading zeros
 * (Go's parser and node's refuse `01.2.3.4` too: it reads as octal elsewhere).
 */
function parseIpv4(text: string, start: number, end: number): number {
  let value = 0;
  let octets = 0;
  let at = start;
  while (octets < 4) {
    const first = at;
    let octet = 0;
    while (at < end && isDigit(text.charCodeAt(at))) {
      octet = octet * 10 + text.charCodeAt(at) - 48;
      at++;
      if (at - first > 3) return -1;
    }
    const digits = at - first;
    if (digits === 0 || octet > 255 || (digits > 1 && text.charCodeAt(first) === 48)) return -1;
    value = value * 256 + octet;
    octets++;
    if (octets < 4) {
      if (at >= end || text.charCodeAt(at) !== DOT) return -1;
      at++;
    }
  }
  return at === end ? value : -1;
}

function formatIpv4(value: number): string {
  return `${Math.floor(value / 16777216)}.${Math.floor(value / 65536) % 256}.${
    Math.floor(value / 256) % 256
  }.${value % 256}`;
}

/**
 * The eight 16-bit groups of the IPv6 address written in `text` from
 * `start` to `end` (no zone, no brackets), or undefined. A trailing IPv4
 * part (`::ffff:192.0.2.1`) counts as two groups.
 */
function parseIpv6(text: string, start: number, end: number): number[] | undefined {
  const groups: number[] = [];
  let gap = -1; // index in groups where "::" stands
  let at = start;
  if (end - start < 2) return undefined;
  if (text.charCodeAt(at) === COLON) {
    if (text.charCodeAt(at + 1) !== COLON) return undefined;
    gap = 0;
    at += 2;
    if (at === end) return [0, 0, 0, 0, 0, 0, 0, 0];
  }
  for (;;) {
    const first = at;
    let group = 0;
    while (at < end) {
      const h = hexValue(text.charCodeAt(at));
      if (h < 0) break;
      group = group * 16 + h;
      at++;
      if (at - first > 4) return undefined;
    }
    if (at < end && text.charCodeAt(at) === DOT) {
      // An IPv4 tail: the last 32 bits.
      if (groups.length > 6) return undefined;
      const v4 = parseIpv4(text, first, end);
      if (v4 < 0) return undefined;
      groups.push(Math.floor(v4 / 65536), v4 % 65536);
      at = end;
      break;
    }
    if (at === first) return undefined;
    groups.push(group);
    if (groups.length > 8) return undefined;
    if (at === end) break;
    if (text.charCodeAt(at) !== COLON) return undefined;
    at++;
    if (at < end && text.charCodeAt(at) === COLON) {
      if (gap >= 0) return undefined; // a second "::"
      gap = groups.length;
      at++;
      if (at === end) break;
    } else if (at === end) {
      return undefined; // a trailing single ":"
    }
  }
  if (gap < 0) return groups.length === 8 ? groups : undefined;
  if (groups.length > 7) return undefined; // "::" must stand for at least one group
  const filled = groups.slice(0, gap);
  for (let i = groups.length; i < 8; i++) filled.push(0);
  for (let i = gap; i < groups.length; i++) filled.push(groups[i]);
  return filled;
}

/** True for `::ffff:a.b.c.d`: an IPv4 address written as IPv6. */
function isIpv4Mapped(groups: number[]): boolean {
  return groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 &&
    groups[4] === 0 && groups[5] === 0xffff;
}

/** RFC 5952 text of eight groups: the first longest run of two or more zero groups as "::". */
function formatIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += "::";
      i += bestLength - 1;
      continue;
    }
    if (text !== "" && !text.endsWith(":")) text += ":";
    text += groups[i].toString(16);
  }
  return text;
}

/** The canonical text of the IPv6 address in `text[start, end)` (zone allowed), or undefined. */
function canonicalIpv6(text: string, start: number, end: number): string | undefined {
  const zone = text.indexOf("%", start);
  if (zone >= 0 && zone < end) {
    if (zone === end - 1) return undefined; // an empty zone
    end = zone;
  }
  const groups = parseIpv6(text, start, end);
  if (groups === undefined) return undefined;
  if (isIpv4Mapped(groups)) return formatIpv4(groups[6] * 65536 + groups[7]);
  return formatIpv6(groups);
}

/** The port written in `text[start, end)`: one to five digits, at most 65535; or -1. */
function parsePort(text: string, start: number, end: number): number {
  if (end <= start || end - start > 5) return -1;
  let port = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return -1;
    port = port * 10 + c - 48;
  }
  return port <= 65535 ? port : -1;
}

/** `text[start, end)` as IPv4, canonical; the same string when it is all of it already. */
function ipv4Text(text: string, start: number, end: number): string | undefined {
  if (parseIpv4(text, start, end) < 0) return undefined;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/**
 * Parses a `source_ip` as the relay writes it into its canonical address
 * and port (see the module comment), or says why it is not one.
 */
export function parseSourceIp(raw: string): SourceAddress | NotAnAddress {
  const text = raw.trim();
  const length = text.length;
  if (length === 0) return NOT_ADDRESS;
  if (text.includes(",")) return LIST;
  if (text.charCodeAt(0) === 91) { // "[v6]" or "[v6]:port"
    const close = text.indexOf("]");
    if (close < 0) return NOT_ADDRESS;
    const ip = canonicalIpv6(text, 1, close);
    if (ip === undefined) return NOT_ADDRESS;
    if (close === length - 1) return { ok: true, ip, port: null };
    if (text.charCodeAt(close + 1) !== COLON) return NOT_ADDRESS;
    const port = parsePort(text, close + 2, length);
    return port < 0 ? BAD_PORT : { ok: true, ip, port };
  }
  const colon = text.indexOf(":");
  if (colon < 0) {
    const ip = ipv4Text(text, 0, length);
    return ip === undefined ? NOT_ADDRESS : { ok: true, ip, port: null };
  }
  if (text.indexOf(":", colon + 1) < 0) { // "v4:port"
    const ip = ipv4Text(text, 0, colon);
    if (ip === undefined) return NOT_ADDRESS;
    const port = parsePort(text, colon + 1, length);
    return port < 0 ? BAD_PORT : { ok: true, ip, port };
  }
  const ip = canonicalIpv6(text, 0, length);
  return ip === undefined ? NOT_ADDRESS : { ok: true, ip, port: null };
}

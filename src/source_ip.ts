/**
 * The client address of a session end (`source_ip`), in every form the
 * relay writes it (SPEC §1): a bare IPv4 or IPv6 address, Go's `RemoteAddr`
 * (`host:port`, `[v6]:port`), and whatever a client put in
 * `X-Forwarded-For`. Parsed into one canonical address and an optional
 * port, or a problem naming why the text is not an address.
 *
 * Canonical form: IPv4 as dotted decimal; IPv6 as RFC 5952 text (lower
 * case, no leading zeros, the longest run of two or more zero groups as
 * `::`), which is what the URL parser writes for a bracketed host; an
 * IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) as the IPv4 address it
 * maps; a zone (`fe80::1%eth0`) dropped, since it names an interface of the
 * relay's host, meaningless anywhere else. Surrounding white space is
 * trimmed.
 *
 * Which text is an address is `node:net`'s `isIP`; the URL parser only
 * rewrites an address already accepted. About 0.5 µs a call on this
 * project's bench machine, against about 11 µs to decode an event and
 * about 80 µs of ingest per event: a hand-written parser (0.15 µs) saved
 * nothing anyone could measure.
 *
 * @module
 */

import { isIP } from "node:net";

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
const PORT = /^\d{1,5}$/;
/** How the URL parser writes an IPv4-mapped address: two hex groups after `::ffff:`. */
const MAPPED = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/** The canonical text of an IPv6 address (zone allowed, no brackets), or undefined. */
function canonicalIpv6(host: string): string | undefined {
  const zone = host.indexOf("%");
  if (zone === host.length - 1) return undefined; // an empty zone
  if (zone >= 0) host = host.slice(0, zone);
  if (isIP(host) !== 6) return undefined;
  const text = new URL(`http://[${host}]/`).hostname.slice(1, -1);
  const mapped = MAPPED.exec(text);
  if (mapped === null) return text;
  const high = parseInt(mapped[1], 16);
  const low = parseInt(mapped[2], 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** `ip` with the port written in `text`: one to five digits, at most 65535. */
function withPort(ip: string, text: string): SourceAddress | NotAnAddress {
  const port = PORT.test(text) ? Number(text) : -1;
  return port < 0 || port > 65535 ? BAD_PORT : { ok: true, ip, port };
}

/**
 * Parses a `source_ip` as the relay writes it into its canonical address
 * and port (see the module comment), or says why it is not one.
 */
export function parseSourceIp(raw: string): SourceAddress | NotAnAddress {
  const text = raw.trim();
  if (text === "") return NOT_ADDRESS;
  if (text.includes(",")) return LIST;
  if (text.startsWith("[")) { // "[v6]" or "[v6]:port"
    const close = text.indexOf("]");
    const ip = close < 0 ? undefined : canonicalIpv6(text.slice(1, close));
    if (ip === undefined) return NOT_ADDRESS;
    if (close === text.length - 1) return { ok: true, ip, port: null };
    if (text[close + 1] !== ":") return NOT_ADDRESS;
    return withPort(ip, text.slice(close + 2));
  }
  const colon = text.indexOf(":");
  if (colon < 0) return isIP(text) === 4 ? { ok: true, ip: text, port: null } : NOT_ADDRESS;
  if (text.indexOf(":", colon + 1) < 0) { // "v4:port"
    const ip = text.slice(0, colon);
    return isIP(ip) === 4 ? withPort(ip, text.slice(colon + 1)) : NOT_ADDRESS;
  }
  const ip = canonicalIpv6(text);
  return ip === undefined ? NOT_ADDRESS : { ok: true, ip, port: null };
}

/**
 * `deno task token`: prints an API bearer token.
 *
 *     deno task token --tenant <uuid> [--ttl 1h] [--secret …]
 *     deno task token --admin [--ttl 30m]
 *
 * The secret comes from `--secret` or `API_JWT_SECRET`. `--ttl` takes
 * seconds or a number followed by s, m, h or d (default 1h).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { mintToken } from "../src/api/token.ts";

const USAGE =
  "usage: deno task token (--tenant <uuid> | --admin) [--ttl <seconds|30m|12h|7d>] [--secret <secret>]";
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses `--ttl`: `900`, `30m`, `12h`, `7d`. */
export function parseTtl(text: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!m) {
    throw new TypeError(
      `'--ttl' must be seconds or a number with s, m, h or d: current value is ${
        JSON.stringify(text)
      }`,
    );
  }
  return Number(m[1]) * UNITS[m[2] || "s"];
}

if (import.meta.main) {
  try {
    const { values } = parseArgs({
      args: Deno.args,
      options: {
        tenant: { type: "string" },
        admin: { type: "boolean", default: false },
        ttl: { type: "string", default: "1h" },
        secret: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      Deno.exit(0);
    }
    const secret = values.secret ?? Deno.env.get("API_JWT_SECRET");
    if (!secret) throw new TypeError("no secret: set API_JWT_SECRET or pass --secret");
    if (values.tenant === undefined && !values.admin) {
      throw new TypeError("pass --tenant <uuid> or --admin");
    }
    console.log(
      await mintToken({
        secret,
        tenantId: values.tenant,
        admin: values.admin,
        ttlSeconds: parseTtl(values.ttl),
      }),
    );
  } catch (err) {
    console.error(`token: ${(err as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
}

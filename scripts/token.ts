/**
 * `deno task token`: prints an API bearer token, this service's own or one
 * shaped as the platform issues them.
 *
 *     deno task token --tenant <uuid> [--ttl 1h] [--secret …]      a tenant token
 *     deno task token --admin [--ttl 30m]                          an administrator token
 *     deno task token --role <role> [--tenant <uuid>] [--sub <uuid>] [--ttl 15m]
 *                                                                  a platform access token
 *     deno task token --type refresh [--sub <uuid>]                a platform refresh token
 *
 * The secret comes from `--secret` or `API_JWT_SECRET`. `--ttl` takes
 * seconds or a number followed by s, m, h or d (default 1h for this
 * service's tokens; the platform's 15m and 7d for its own). A platform token
 * without `--tenant` has `tenant_id: null` (as a super_admin's); without
 * `--sub` its user is a random UUID.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  mintPlatformToken,
  mintToken,
  PLATFORM_ROLES,
  type PlatformRole,
} from "../src/api/token.ts";

const USAGE = [
  "usage: deno task token (--tenant <uuid> | --admin) [--ttl <seconds|30m|12h|7d>] [--secret <secret>]",
  `       deno task token --role <${
    PLATFORM_ROLES.join("|")
  }> [--tenant <uuid>] [--sub <uuid>] [--ttl …] [--secret …]`,
  "       deno task token --type refresh [--sub <uuid>] [--ttl …] [--secret …]",
].join("\n");
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

/**
 * The token that the command line asks for.
 *
 * @param args The arguments, without the program name.
 * @param env The environment (`API_JWT_SECRET`).
 * @throws {TypeError} naming the argument at fault.
 */
export async function tokenFromArgs(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<string> {
  const { values } = parseArgs({
    args,
    options: {
      tenant: { type: "string" },
      admin: { type: "boolean", default: false },
      role: { type: "string" },
      type: { type: "string" },
      sub: { type: "string" },
      ttl: { type: "string" },
      secret: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const secret = values.secret ?? env["API_JWT_SECRET"];
  if (!secret) throw new TypeError("no secret: set API_JWT_SECRET or pass --secret");
  const ttlSeconds = values.ttl === undefined ? undefined : parseTtl(values.ttl);
  if (values.role !== undefined || values.type !== undefined || values.sub !== undefined) {
    if (values.admin) {
      throw new TypeError("--admin mints this service's token: drop --role, --type and --sub");
    }
    const type = values.type ?? "access";
    if (type !== "access" && type !== "refresh") {
      throw new TypeError(
        `'--type' must be access or refresh: current value is ${JSON.stringify(type)}`,
      );
    }
    if (type === "refresh" && (values.role !== undefined || values.tenant !== undefined)) {
      throw new TypeError("a refresh token carries only sub: drop --role and --tenant");
    }
    return await mintPlatformToken({
      secret,
      subject: values.sub ?? crypto.randomUUID(),
      type,
      role: values.role as PlatformRole | undefined,
      tenantId: values.tenant ?? null,
      ttlSeconds,
    });
  }
  if (values.tenant === undefined && !values.admin) {
    throw new TypeError("pass --tenant <uuid>, --admin or --role <role>");
  }
  return await mintToken({ secret, tenantId: values.tenant, admin: values.admin, ttlSeconds });
}

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(USAGE);
    Deno.exit(0);
  }
  try {
    console.log(await tokenFromArgs(Deno.args, Deno.env.toObject()));
  } catch (err) {
    console.error(`token: ${(err as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
}

/**
 * `deno task verify`: proves offline that a database file, or an NDJSON
 * export, holds unbroken hash chains. Exit 0 when intact, 1 when broken,
 * 2 on a usage or access error.
 *
 * @module
 */
import { signerFrom } from "../src/integrity/signing.ts";
import { verifyTenants } from "../src/integrity/verify.ts";
import {
  ExportFormatError,
  parseExport,
  verifyExportRows,
} from "../src/integrity/verify_export.ts";
import { Database } from "../src/store/client.ts";

/** The usage text. */
export const USAGE = `usage:
  deno task verify [--tenant UUID] [--json] <database: file:path, path or libsql:// URL>
  deno task verify --export FILE.ndjson [--anchor TENANT:SEQ:HASH ...] [--json]

Environment: DATABASE_ENCRYPTION_KEY (encrypted file), DATABASE_AUTH_TOKEN (remote),
AUDIT_SIGNING_KEY or AUDIT_SIGNING_ED25519_PUBLIC_KEY (to check checkpoint signatures).`;

function flagValues(args: string[], flag: string): string[] {
  const values: string[] = [];
  args.forEach((arg, i) => {
    if (arg === flag && i + 1 < args.length) values.push(args[i + 1]);
  });
  return values;
}

async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.length === 0) {
    console.error(USAGE);
    return args.includes("--help") ? 0 : 2;
  }
  const json = args.includes("--json");
  const valued = new Set(["--tenant", "--export", "--anchor"]);
  const positional = args.filter((a, i) => !a.startsWith("--") && !valued.has(args[i - 1]));
  let report;
  const exportFile = flagValues(args, "--export")[0];
  if (exportFile) {
    const anchors = new Map<string, { seq: number; hash: string }>();
    for (const anchor of flagValues(args, "--anchor")) {
      const [tenant, seq, hash] = anchor.split(":");
      if (!tenant || !/^\d+$/.test(seq ?? "") || !/^[0-9a-f]{64}$/.test(hash ?? "")) {
        console.error(`verify: --anchor must be TENANT:SEQ:HASH, got ${anchor}`);
        return 2;
      }
      anchors.set(tenant.toLowerCase(), { seq: Number(seq), hash });
    }
    try {
      report = verifyExportRows(parseExport(await Deno.readTextFile(exportFile)), anchors);
    } catch (err) {
      console.error(`verify: ${exportFile}: ${(err as Error).message}`);
      return err instanceof ExportFormatError ? 1 : 2;
    }
  } else {
    if (positional.length !== 1) {
      console.error(USAGE);
      return 2;
    }
    const target = positional[0];
    const databaseUrl = /^[a-z]+:/.test(target) ? target : `file:${target}`;
    if (databaseUrl.startsWith("file:")) {
      try {
        await Deno.stat(databaseUrl.slice("file:".length));
      } catch {
        console.error(`verify: ${target} does not exist`);
        return 2;
      }
    }
    let db: Database;
    try {
      db = await Database.open({
        databaseUrl,
        databaseAuthToken: Deno.env.get("DATABASE_AUTH_TOKEN") || undefined,
        databaseEncryptionKey: Deno.env.get("DATABASE_ENCRYPTION_KEY") || undefined,
      });
    } catch (err) {
      console.error(`verify: cannot open ${target}: ${(err as Error).message}`);
      return 2;
    }
    const signer = await signerFrom({
      hmacKey: Deno.env.get("AUDIT_SIGNING_KEY") || undefined,
      ed25519PublicKey: Deno.env.get("AUDIT_SIGNING_ED25519_PUBLIC_KEY") || undefined,
    });
    const tenants = flagValues(args, "--tenant").map((t) => t.toLowerCase());
    report = await verifyTenants(db, signer, tenants.length ? tenants : undefined);
    db.close();
    if (!signer) console.error("verify: no signing key given: checkpoint signatures not checked");
  }
  if (json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    for (const t of report.tenants) {
      const verdict = t.ok
        ? "ok"
        : `BROKEN at chain position ${t.first_broken?.chain_seq}: ${t.first_broken?.problem} (${t.first_broken?.detail}; session ${
          t.first_broken?.session_id ?? "-"
        })`;
      console.log(
        `${t.tenant_id}  rows ${t.rows_checked}  head ${t.head_seq}:${t.head}  checkpoints ${t.checkpoints_verified}  ${verdict}`,
      );
    }
    console.log(
      `${
        report.ok ? "OK" : "BROKEN"
      }: ${report.rows_checked} rows in ${report.tenants.length} tenant(s), head ${report.head}`,
    );
  }
  return report.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

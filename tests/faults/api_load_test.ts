/**
 * Fault 8: the read API under 200 concurrent clients for 30 s (set
 * `FAULTS_API_SECONDS` to change it), mixing valid, malformed and
 * cross-tenant requests against a service that ingested three tenants' rows.
 * No 5xx, no row of another tenant ever returned, memory bounded.
 */
import { mintToken } from "../../src/api/token.ts";
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { publishAll, sessionEnd, TEST_JWT_SECRET } from "../harness.ts";
import {
  consumerSettled,
  FAULT_OPTS,
  report,
  residentKiB,
  rowsReach,
  startWorldService,
  withFaultWorld,
} from "./fault_kit.ts";

const CLIENTS = 200;
const SECONDS = Number(Deno.env.get("FAULTS_API_SECONDS") ?? "30");
const TENANTS = [
  "aaaaaaaa-0000-4000-8000-00000000000a",
  "bbbbbbbb-0000-4000-8000-00000000000b",
  "cccccccc-0000-4000-8000-00000000000c",
];
const DEVICES = [crypto.randomUUID(), crypto.randomUUID()];
const PER_TENANT = 1_000;

type Item = { tenant_id?: unknown; session_id?: unknown };

Deno.test(
  `the read API under ${CLIENTS} concurrent clients for ${SECONDS} s: no 5xx, no foreign row, memory bounded`,
  FAULT_OPTS,
  () =>
    withFaultWorld(async (world) => {
      const owned = new Map<string, string[]>(TENANTS.map((t) => [t, []]));
      const events = TENANTS.flatMap((tenant) =>
        Array.from({ length: PER_TENANT }, (_, i) => {
          const e = sessionEnd({
            tenant_id: tenant,
            device_id: DEVICES[i % 2],
            reason: i % 3 === 0 ? "idle_timeout" : "normal",
            end_time: new Date(Date.UTC(2026, 2, 12, 10, 0, i)).toISOString().slice(0, 19) + "Z",
          });
          owned.get(tenant)!.push(e.session_id);
          return { payload: e };
        })
      );
      const service = await startWorldService(world, { LOG_LEVEL: "error" });
      try {
        await publishAll(world.t.js, events);
        await rowsReach(world.db, events.length, 60_000);
        await consumerSettled(world.t);
        const tokens = await Promise.all(
          TENANTS.map((tenantId) => mintToken({ secret: TEST_JWT_SECRET, tenantId })),
        );
        const admin = await mintToken({ secret: TEST_JWT_SECRET, admin: true });
        const expired = await mintToken({
          secret: TEST_JWT_SECRET,
          tenantId: TENANTS[0],
          ttlSeconds: -60,
        }).catch(() => "expired.token.value");
        const foreignSecret = await mintToken({
          secret: "another-secret-0123456789-abcdefghijkl",
          tenantId: TENANTS[0],
        });

        const statuses = new Map<number, number>();
        const foreignRows: string[] = [];
        let requests = 0;
        let networkErrors = 0;
        const cursors: string[][] = TENANTS.map(() => []);

        /** One request of a random kind; checks what comes back. */
        const once = async (client: number): Promise<void> => {
          const t = (client + requests) % TENANTS.length;
          const tenant = TENANTS[t];
          const other = TENANTS[(t + 1) % TENANTS.length];
          const auth = { Authorization: `Bearer ${tokens[t]}` };
          const pick = Math.floor(Math.random() * 16);
          let path = "/v1/session-ends";
          let headers: Record<string, string> = auth;
          let scope: string | undefined = tenant; // the only tenant a 200 may show
          switch (pick) {
            case 0:
              path += `?limit=${1 + Math.floor(Math.random() * 500)}`;
              break;
            case 1: {
              const cursor = cursors[t].pop();
              path += cursor ? `?cursor=${encodeURIComponent(cursor)}` : "?limit=20";
              break;
            }
            case 2:
              path += `/${owned.get(tenant)![Math.floor(Math.random() * PER_TENANT)]}`;
              break;
            case 3: // another tenant's session: a plain 404
              path += `/${owned.get(other)![Math.floor(Math.random() * PER_TENANT)]}`;
              break;
            case 4: // asks for another tenant's rows outright
              path += `?tenant_id=${other}`;
              break;
            case 5: // another tenant's cursor
              path += `?cursor=${encodeURIComponent(cursors[(t + 1) % 3].at(-1) ?? "x")}`;
              break;
            case 6:
              path += `?device_id=${DEVICES[0]}&reason=idle_timeout&since=2026-03-12T10:00:00Z`;
              break;
            case 7:
              path += [
                "?limit=0",
                "?limit=501",
                "?limit=-1",
                "?limit=abc",
                "?device_id=not-a-uuid",
                "?since=yesterday",
                "?since=2026-03-13T00:00:00Z&until=2026-03-12T00:00:00Z",
                "?cursor=%00%ff",
                "?cursor=" + "A".repeat(5_000),
                "?reason=" + "r".repeat(1_000),
                "?tenant_id=../../etc/passwd",
                "?__proto__[x]=1&constructor=1",
              ][Math.floor(Math.random() * 12)];
              break;
            case 8:
              path += "/" + ["not-a-uuid", "%00", "..%2F..", "💥", "x".repeat(3_000)][
                Math.floor(Math.random() * 5)
              ];
              break;
            case 9:
              headers = {};
              scope = undefined;
              break;
            case 10:
              headers = {
                Authorization: [
                  "Bearer ",
                  "Bearer x.y.z",
                  `Bearer ${expired}`,
                  `Bearer ${foreignSecret}`,
                  `Basic ${btoa("a:b")}`,
                  `Bearer ${tokens[t]}x`,
                ][Math.floor(Math.random() * 6)],
              };
              scope = undefined;
              break;
            case 11: // the admin reads one named tenant
              headers = { Authorization: `Bearer ${admin}` };
              path += `?tenant_id=${other}&limit=50`;
              scope = other;
              break;
            case 12:
              path = ["/readyz", "/healthz", "/metrics"][Math.floor(Math.random() * 3)];
              scope = undefined;
              break;
            case 13:
              path = "/v1/does-not-exist";
              break;
            case 14:
              path += `?user_id=${crypto.randomUUID()}`;
              break;
            default:
              path += "?limit=5";
          }
          let res: Response;
          try {
            res = await fetch(service.baseUrl + path, { headers });
          } catch {
            networkErrors++;
            return;
          }
          requests++;
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const type = res.headers.get("content-type") ?? "";
          if (res.status !== 200 || !type.includes("json") || !path.startsWith("/v1")) {
            await res.body?.cancel();
            return;
          }
          const body = await res.json() as { items?: Item[]; next_cursor?: string | null } & Item;
          const items = body.items ?? [body];
          for (const item of items) {
            if (item.tenant_id !== scope) {
              foreignRows.push(`${path} -> ${String(item.tenant_id)}:${String(item.session_id)}`);
            }
          }
          if (body.next_cursor && scope === tenant && cursors[t].length < 50) {
            cursors[t].push(body.next_cursor);
          }
        };

        // Warm up, then measure memory before and after the load.
        await Promise.all(Array.from({ length: 50 }, (_, i) => once(i)));
        const rssBefore = await residentKiB(service.pid);
        let rssMax = rssBefore;
        const deadline = performance.now() + SECONDS * 1_000;
        const sampler = setInterval(() => {
          residentKiB(service.pid).then((kib) => rssMax = Math.max(rssMax, kib)).catch(() => {});
        }, 500);
        await Promise.all(Array.from({ length: CLIENTS }, async (_, client) => {
          while (performance.now() < deadline) await once(client);
        }));
        clearInterval(sampler);
        const rssAfter = await residentKiB(service.pid);
        const byStatus = Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0]));
        const errors5xx = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
        report(`read API, ${CLIENTS} clients, ${SECONDS} s`, {
          requests,
          requests_per_second: Math.round(requests / SECONDS),
          by_status: byStatus,
          errors_5xx: errors5xx,
          foreign_rows: foreignRows.length,
          network_errors: networkErrors,
          rss_mib_before: Math.round(rssBefore / 1024),
          rss_mib_max: Math.round(rssMax / 1024),
          rss_mib_after: Math.round(rssAfter / 1024),
        });
        equal(errors5xx, 0, `no 5xx: ${JSON.stringify(byStatus)}`);
        deepStrictEqual(foreignRows.slice(0, 5), [], "no row of another tenant");
        equal(networkErrors, 0, "every request answered");
        ok(requests > CLIENTS * SECONDS, `the load was real: ${requests} requests`);
        ok(
          rssMax - rssBefore < 256 * 1024,
          `memory bounded: ${rssBefore} KiB before, ${rssMax} KiB at most`,
        );
        equal((await service.get("/healthz")).status, 200);
      } finally {
        const status = await service.stop("SIGTERM");
        equal(status.code, 0, service.logs.slice(-20).join("\n"));
      }
    }),
);

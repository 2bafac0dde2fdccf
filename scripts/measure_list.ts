/**
 * Measures `GET /v1/session-ends` latency in-process (no network) over a
 * libSQL file holding many session ends across tenants.
 *
 *     deno run -A scripts/measure_list.ts [--rows 100000] [--requests 200]
 *
 * Prints one line per query shape: median and p95 in milliseconds.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createApp } from "../src/api/app.ts";
import { mintToken } from "../src/api/token.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { Metrics } from "../src/metrics.ts";
import { Readiness } from "../src/readiness.ts";
import { Database } from "../src/store/client.ts";
import { migrate } from "../src/store/migrations.ts";
import { storeBatch } from "../src/store/commit.ts";
import type { IncomingSessionEnd } from "../src/store/session_end_sql.ts";

const SECRET = "measure-secret-0123456789-abcdefghijkl";
const TENANTS = 20;
const DEVICES_PER_TENANT = 50;

function uuid(prefix: number, n: number): string {
  const h = n.toString(16).padStart(12, "0");
  return `${prefix.toString(16).padStart(8, "0")}-0000-4000-8000-${h}`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "100000" },
    requests: { type: "string", default: "200" },
  },
});
const rows = Number(values.rows);
const requests = Number(values.requests);

const dir = await Deno.makeTempDir({ prefix: "session-audit-measure-" });
const db = await Database.open({ databaseUrl: `file:${dir}/audit.db` });
try {
  await migrate(db.client);
  const base = Date.UTC(2026, 2, 1);
  const reasons = ["normal", "idle_timeout", "shutdown"];
  const loadStarted = performance.now();
  for (let i = 0; i < rows; i += 5000) {
    const batch: IncomingSessionEnd[] = [];
    for (let j = i; j < Math.min(rows, i + 5000); j++) {
      const tenant = j % TENANTS;
      const end = base + j * 30_000;
      const sessionId = uuid(0x5e55, j);
      batch.push({
        event: {
          sessionId,
          tenantId: uuid(0x7e, tenant),
          deviceId: uuid(0xde, tenant * DEVICES_PER_TENANT + (j * 7) % DEVICES_PER_TENANT),
          userId: uuid(0x05e, j % 500),
          startTime: end - 600_000,
          endTime: j % 50 === 0 ? null : end,
          durationSeconds: 600,
          sourceIp: "203.0.113.7",
          sourcePort: null,
          reason: reasons[j % 3],
          anomalies: [],
        },
        stream: "DEVICE_EVENTS",
        streamSeq: j + 1,
        subject: `audit.session.end.${sessionId}`,
        payload: new Uint8Array(0),
        receivedAt: end + 1000,
      });
    }
    await storeBatch(db, batch, []);
  }
  console.log(`loaded ${rows} rows in ${Math.round(performance.now() - loadStarted)} ms`);

  const config = loadConfig({ API_JWT_SECRET: SECRET, DATABASE_URL: `file:${dir}/audit.db` });
  const app = createApp({
    config,
    db,
    readiness: new Readiness(),
    metrics: new Metrics(),
    logger: createLogger("warn"),
  });
  const tenant = uuid(0x7e, 3);
  const tenantToken = await mintToken({ secret: SECRET, tenantId: tenant });
  const adminToken = await mintToken({ secret: SECRET, admin: true });
  const device = uuid(0xde, 3 * DEVICES_PER_TENANT + 1);
  const shapes: [string, string, string][] = [
    ["tenant, first page (50)", tenantToken, ""],
    ["tenant, limit=500", tenantToken, "limit=500"],
    ["tenant + device", tenantToken, `device_id=${device}`],
    [
      "tenant + reason + since/until",
      tenantToken,
      "reason=shutdown&since=2026-03-05T00:00:00Z&until=2026-03-20T00:00:00Z",
    ],
    ["tenant, deep page via cursor", tenantToken, "cursor-deep"],
    ["admin, all tenants", adminToken, ""],
  ];
  for (const [name, token, query] of shapes) {
    let path = `/v1/session-ends?${query}`;
    if (query === "cursor-deep") {
      // follow cursors halfway through the tenant's rows, then time that page
      let cursor = "";
      for (let i = 0; i < Math.floor(rows / TENANTS / 2 / 500); i++) {
        const res = await app.request(`/v1/session-ends?limit=500${cursor}`, {
          headers: { Authorization: `Bearer ${token}` },
        });
        const body = await res.json() as { next_cursor: string | null };
        if (body.next_cursor === null) break;
        cursor = `&cursor=${encodeURIComponent(body.next_cursor)}`;
      }
      path = `/v1/session-ends?limit=50${cursor}`;
    }
    const times: number[] = [];
    for (let i = 0; i < requests; i++) {
      const started = performance.now();
      const res = await app.request(path, { headers: { Authorization: `Bearer ${token}` } });
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    console.log(
      `${name.padEnd(32)} median ${percentile(times, 0.5).toFixed(2)} ms  p95 ${
        percentile(times, 0.95).toFixed(2)
      } ms`,
    );
  }
} finally {
  db.close();
  await Deno.remove(dir, { recursive: true });
}

import { deepStrictEqual, ok } from "node:assert/strict";
import type { InStatement, Row } from "@libsql/client";
import type { Database } from "./client.ts";
import { getSessionEndSql, type ListFilter, listSessionEndsSql, toItem } from "./queries.ts";
import { withDb } from "../../tests/store_fixture.ts";

const T = "0f0e0d0c-0b0a-4908-8706-050403020100";
const AFTER = { sortTime: 1_773_309_600_000, id: 1_000 };

async function plan(db: Database, stmt: InStatement): Promise<string> {
  if (typeof stmt === "string") throw new TypeError("expected a statement with arguments");
  const rs = await db.execute({ sql: `EXPLAIN QUERY PLAN ${stmt.sql}`, args: stmt.args });
  return rs.rows.map((row) => String(row.detail)).join(" | ");
}

const CASES: [string, ListFilter, string][] = [
  ["tenant", { tenantId: T }, "session_ends_by_tenant "],
  ["tenant + device", { tenantId: T, deviceId: T }, "session_ends_by_tenant_device"],
  ["tenant + user", { tenantId: T, userId: T }, "session_ends_by_tenant_user"],
  ["tenant + reason", { tenantId: T, reason: "normal" }, "session_ends_by_tenant_reason"],
  ["tenant + since/until", { tenantId: T, since: 1, until: 2 }, "session_ends_by_tenant "],
  [
    "tenant + device + since",
    { tenantId: T, deviceId: T, since: 1 },
    "session_ends_by_tenant_device",
  ],
  ["admin, all tenants", {}, "session_ends_by_time"],
  ["admin + since", { since: 1 }, "session_ends_by_time"],
];

for (const [name, filter, index] of CASES) {
  Deno.test(`the ${name} list is read in order from ${index.trim()}, first page and after a cursor`, async () => {
    await withDb(async (db) => {
      for (const after of [undefined, AFTER]) {
        const detail = await plan(db, listSessionEndsSql(filter, { limit: 50, after }));
        ok(!detail.includes("TEMP B-TREE"), `${name}: sorts in a temp b-tree: ${detail}`);
        ok(
          detail.includes(`USING INDEX ${index}`) || detail.endsWith(`USING INDEX ${index.trim()}`),
          detail,
        );
        if (after) {
          ok(
            /sort_time<\?|\(sort_time,(id|rowid)\)<\(\?,\?\)/.test(detail),
            `${name}: the cursor does not seek: ${detail}`,
          );
        }
      }
    });
  });
}

Deno.test("the lookup by session_id uses the index of current versions", async () => {
  await withDb(async (db) => {
    for (const stmt of [getSessionEndSql(T), getSessionEndSql(T, T)]) {
      ok((await plan(db, stmt)).includes("session_ends_current"), await plan(db, stmt));
    }
  });
});

Deno.test("the list asks for one row more than the page", () => {
  const stmt = listSessionEndsSql({ tenantId: T }, { limit: 50 });
  ok(typeof stmt !== "string");
  deepStrictEqual((stmt.args as unknown[]).at(-1), 51);
});

Deno.test("a row maps to the SPEC item, times in RFC 3339 UTC, unknowns null", () => {
  const row = {
    session_id: T,
    tenant_id: T,
    device_id: T,
    user_id: null,
    start_time: Date.UTC(2026, 2, 12, 10),
    end_time: Date.UTC(2026, 2, 12, 10, 15, 0, 250),
    duration_seconds: 900,
    source_ip: "2001:db8::1",
    source_port: 443,
    reason: null,
    anomalies: '[{"field":"reason","value":"a\\u0007","problem":"contains a control character"}]',
    sort_time: 0,
    stream_seq: 12,
    recorded_at: Date.UTC(2026, 2, 12, 10, 15, 1),
    chain_version: 2,
    chain_seq: 7,
    chain_hash: "ab".repeat(32),
    corrects: 3,
    corrected_by: null,
  } as unknown as Row;
  deepStrictEqual(toItem(row), {
    session_id: T,
    tenant_id: T,
    device_id: T,
    user_id: null,
    action: "ssh_session_end",
    start_time: "2026-03-12T10:00:00Z",
    end_time: "2026-03-12T10:15:00.250Z",
    duration_seconds: 900,
    source_ip: "2001:db8::1",
    source_port: 443,
    reason: null,
    recorded_at: "2026-03-12T10:15:01Z",
    anomalies: [{ field: "reason", value: "a\u0007", problem: "contains a control character" }],
    stream_seq: 12,
    chain_version: 2,
    chain_seq: 7,
    chain_hash: "ab".repeat(32),
    corrects: 3,
    corrected_by: null,
  });
});

Deno.test("an anomalies column edited by hand into something else is shown as such", () => {
  const row = { anomalies: "not json" } as unknown as Row;
  deepStrictEqual(
    toItem({ ...row, recorded_at: 0, stream_seq: 1, chain_version: 2 } as unknown as Row).anomalies,
    [
      { field: "anomalies", value: "not json", problem: "not a list of anomalies" },
    ],
  );
});

Deno.test("the list and the item read current versions; the export may read every version", () => {
  const text = (stmt: ReturnType<typeof listSessionEndsSql>) =>
    typeof stmt === "string" ? stmt : stmt.sql;
  ok(text(listSessionEndsSql({ tenantId: T }, { limit: 5 })).includes("corrected_by IS NULL"));
  ok(text(getSessionEndSql(T)).includes("corrected_by IS NULL"));
  ok(
    !text(listSessionEndsSql({ tenantId: T, allVersions: true }, { limit: 5 })).includes(
      "corrected_by IS NULL",
    ),
  );
});

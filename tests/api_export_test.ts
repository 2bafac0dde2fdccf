import { deepStrictEqual, match, ok } from "node:assert/strict";
import {
  adminToken,
  BASE_TIME,
  type ErrorBodyJson,
  expectedItem,
  type FixtureRow,
  generateRows,
  get,
  insertRows,
  openTestDb,
  TENANT_A,
  TENANT_B,
  tenantToken,
  walk,
} from "./api_fixture.ts";
import { bulkInsert, makeLiveApp } from "./api_live_fixture.ts";
import type { InStatement } from "@libsql/client";
import { canonicalRowV2 } from "../src/integrity/canonical.ts";
import { chainHash, GENESIS_HASH } from "../src/integrity/chain.ts";
import type { IncomingSessionEnd } from "../src/store/session_end_sql.ts";

const HEADER =
  "session_id,tenant_id,device_id,user_id,action,start_time,end_time,duration_seconds,source_ip,source_port,reason,recorded_at,anomalies,stream_seq,chain_version,chain_seq,chain_hash,corrects,corrected_by\r\n";
const DEVICE = "d1d1d1d1-0000-4000-8000-000000000001";
const USER = "e1e1e1e1-0000-4000-8000-000000000001";

function row(n: number, hour: number, reason: string | null, extra: Partial<FixtureRow> = {}) {
  const end = BASE_TIME + hour * 3_600_000;
  return {
    sessionId: `${n}${n}${n}${n}${n}${n}${n}${n}-0000-4000-8000-00000000000${n}`,
    tenantId: TENANT_A,
    deviceId: DEVICE,
    userId: USER,
    startTime: end - 900_000,
    endTime: end,
    sourceIp: "203.0.113.7",
    reason,
    receivedAt: end,
    ...extra,
  } satisfies FixtureRow;
}

/** Reasons a spreadsheet would run as formulas, and cells that need quoting. */
const FIXED: FixtureRow[] = [
  row(1, 9, "normal"),
  row(2, 8, '=HYPERLINK("http://x","y")', {
    userId: null,
    startTime: null,
    sourceIp: null,
  }),
  row(3, 7, "-2+3", { sourceIp: "2001:db8::1" }),
  row(4, 6, 'a,b "c"'),
  row(5, 5, "@SUM(A1)"),
  row(6, 4, "\tx"),
  row(7, 3, "line\r\nbreak"),
  row(8, 2, "+1", { endTime: null, startTime: BASE_TIME, receivedAt: BASE_TIME + 3_600_000 }),
];

/**
 * The stream sequence and chain position and hash each row of the fixed set
 * gets when stored in one batch, the hash computed here from the documented
 * encoding.
 */
function expectedChain(
  stored: IncomingSessionEnd[],
  recordedAt = BASE_TIME,
): Map<string, [number, number, string]> {
  const chain = new Map<string, [number, number, string]>();
  let previous = GENESIS_HASH;
  stored.forEach(({ event, streamSeq }, i) => {
    previous = chainHash(
      previous,
      canonicalRowV2({ ...event, chainSeq: i + 1, recordedAt, streamSeq, corrects: null }),
    );
    chain.set(event.sessionId, [streamSeq, i + 1, previous]);
  });
  return chain;
}

Deno.test("export: byte-exact CSV and NDJSON of a fixed set", async (t) => {
  const store = await openTestDb();
  try {
    const chain = expectedChain(await insertRows(store.db, FIXED));
    const { app } = makeLiveApp(store.db);
    const token = await tenantToken(TENANT_A);
    // The cells after recorded_at: anomalies (none), stream_seq, chain_version, chain_seq,
    // chain_hash, corrects, corrected_by.
    const link = (n: number) => {
      const [streamSeq, chainSeq, hash] = chain.get(FIXED[n - 1].sessionId)!;
      return `,${streamSeq},2,${chainSeq},${hash},,`;
    };

    await t.step("CSV: header, CRLF, quoting, formulas neutralised with a leading '", async () => {
      const res = await get(app, "/v1/session-ends/export?format=csv", token);
      deepStrictEqual(res.status, 200);
      deepStrictEqual(res.headers.get("Content-Type"), "text/csv; charset=utf-8; header=present");
      match(
        res.headers.get("Content-Disposition") ?? "",
        new RegExp(`^attachment; filename="session-ends-${TENANT_A}-\\d{8}T\\d{6}Z\\.csv"$`),
      );
      const t0 = "aaaaaaaa-0000-4000-8000-000000000001";
      const rest = `${t0},${DEVICE}`;
      const expected = HEADER +
        `11111111-0000-4000-8000-000000000001,${rest},${USER},ssh_session_end,2026-03-12T08:45:00Z,2026-03-12T09:00:00Z,900,203.0.113.7,,normal,2026-03-12T00:00:00Z,${
          link(1)
        }\r\n` +
        `22222222-0000-4000-8000-000000000002,${rest},,ssh_session_end,,2026-03-12T08:00:00Z,,,,"'=HYPERLINK(""http://x"",""y"")",2026-03-12T00:00:00Z,${
          link(2)
        }\r\n` +
        `33333333-0000-4000-8000-000000000003,${rest},${USER},ssh_session_end,2026-03-12T06:45:00Z,2026-03-12T07:00:00Z,900,2001:db8::1,,'-2+3,2026-03-12T00:00:00Z,${
          link(3)
        }\r\n` +
        `44444444-0000-4000-8000-000000000004,${rest},${USER},ssh_session_end,2026-03-12T05:45:00Z,2026-03-12T06:00:00Z,900,203.0.113.7,,"a,b ""c""",2026-03-12T00:00:00Z,${
          link(4)
        }\r\n` +
        `55555555-0000-4000-8000-000000000005,${rest},${USER},ssh_session_end,2026-03-12T04:45:00Z,2026-03-12T05:00:00Z,900,203.0.113.7,,'@SUM(A1),2026-03-12T00:00:00Z,${
          link(5)
        }\r\n` +
        `66666666-0000-4000-8000-000000000006,${rest},${USER},ssh_session_end,2026-03-12T03:45:00Z,2026-03-12T04:00:00Z,900,203.0.113.7,,'\tx,2026-03-12T00:00:00Z,${
          link(6)
        }\r\n` +
        `77777777-0000-4000-8000-000000000007,${rest},${USER},ssh_session_end,2026-03-12T02:45:00Z,2026-03-12T03:00:00Z,900,203.0.113.7,,"line\r\nbreak",2026-03-12T00:00:00Z,${
          link(7)
        }\r\n` +
        `88888888-0000-4000-8000-000000000008,${rest},${USER},ssh_session_end,2026-03-12T00:00:00Z,,,203.0.113.7,,'+1,2026-03-12T00:00:00Z,${
          link(8)
        }\r\n`;
      deepStrictEqual(await res.text(), expected);
    });

    await t.step("NDJSON: one list item per line, in list order", async () => {
      const res = await get(app, "/v1/session-ends/export?format=ndjson", token);
      deepStrictEqual(res.status, 200);
      deepStrictEqual(res.headers.get("Content-Type"), "application/x-ndjson; charset=utf-8");
      match(res.headers.get("Content-Disposition") ?? "", /\.ndjson"$/);
      const text = await res.text();
      ok(
        text.startsWith(
          `{"session_id":"11111111-0000-4000-8000-000000000001","tenant_id":"aaaaaaaa-0000-4000-8000-000000000001","device_id":"d1d1d1d1-0000-4000-8000-000000000001","user_id":"e1e1e1e1-0000-4000-8000-000000000001","action":"ssh_session_end","start_time":"2026-03-12T08:45:00Z","end_time":"2026-03-12T09:00:00Z","duration_seconds":900,"source_ip":"203.0.113.7","source_port":null,"reason":"normal","recorded_at":"2026-03-12T00:00:00Z","anomalies":[],"stream_seq":${
            chain.get(FIXED[0].sessionId)![0]
          },"chain_version":2,"chain_seq":1,"chain_hash":"${
            chain.get(FIXED[0].sessionId)![2]
          }","corrects":null,"corrected_by":null}\n`,
        ),
      );
      deepStrictEqual(
        text,
        FIXED.map((r) => {
          const [stream_seq, chain_seq, chain_hash] = chain.get(r.sessionId)!;
          const item = {
            ...expectedItem(r),
            stream_seq,
            chain_version: 2,
            chain_seq,
            chain_hash,
            corrects: null,
            corrected_by: null,
          };
          return JSON.stringify(item) + "\n";
        }).join(""),
      );
      // exactly the list's items
      const list = await (await get(app, "/v1/session-ends?limit=500", token)).json();
      deepStrictEqual(text.trimEnd().split("\n").map((line) => JSON.parse(line)), list.items);
    });

    await t.step("format defaults to csv; other tenants' rows never appear", async () => {
      const res = await get(app, "/v1/session-ends/export", await tenantToken(TENANT_B));
      deepStrictEqual(res.status, 200);
      deepStrictEqual(await res.text(), HEADER);
      const all = await get(app, "/v1/session-ends/export", await adminToken());
      match(all.headers.get("Content-Disposition") ?? "", /filename="session-ends-all-/);
      deepStrictEqual((await all.text()).split("\r\n").length - 2 >= FIXED.length, true);
    });
  } finally {
    await store.close();
  }
});

Deno.test("export: filters, auth and bad input follow the list's rules", async (t) => {
  const store = await openTestDb();
  try {
    const rows = generateRows(TENANT_A, 150, 61, 0xa6);
    await insertRows(store.db, [...rows, ...generateRows(TENANT_B, 20, 62, 0xb6)]);
    const { app } = makeLiveApp(store.db);
    const token = await tenantToken(TENANT_A);

    await t.step(
      "the export holds exactly what walking the list with the same filters yields",
      async () => {
        for (
          const q of [
            "",
            `device_id=${rows[0].deviceId}`,
            "reason=idle_timeout&since=2026-03-12T00:30:00Z&until=2026-03-12T01:30:00Z",
          ]
        ) {
          const { ids } = await walk(app, token, q);
          const res = await get(app, `/v1/session-ends/export?format=ndjson&${q}`, token);
          const exported = (await res.text()).split("\n").filter(Boolean).map((l) =>
            JSON.parse(l).session_id
          );
          deepStrictEqual(exported, ids, q);
        }
      },
    );

    await t.step("no token is 401; another tenant is 403; bad input is 400 naming it", async () => {
      deepStrictEqual((await get(app, "/v1/session-ends/export")).status, 401);
      const foreign = await get(app, `/v1/session-ends/export?tenant_id=${TENANT_B}`, token);
      deepStrictEqual(foreign.status, 403);
      for (
        const [q, param] of [
          ["format=xlsx", "format"],
          ["cursor=abc.def", "cursor"],
          ["limit=10", "limit"],
          ["device_id=nope", "device_id"],
          ["since=2026-03-13T00:00:00Z&until=2026-03-12T00:00:00Z", "since"],
          ["format=csv&format=ndjson", "format"],
        ]
      ) {
        const res = await get(app, `/v1/session-ends/export?${q}`, token);
        deepStrictEqual(res.status, 400, q);
        deepStrictEqual((await res.json() as ErrorBodyJson).error.param, param, q);
      }
    });
  } finally {
    await store.close();
  }
});

Deno.test("export of 100k rows streams in 1000-row queries, read only as the client reads", async () => {
  const store = await openTestDb();
  try {
    const count = 100_000;
    await bulkInsert(store.db, TENANT_A, count, BASE_TIME);
    const queries: InStatement[] = [];
    let running = 0;
    // how far ahead of the client the server read: queries issued minus chunks the client took
    let chunksTaken = 0;
    let mostAhead = 0;
    // Export pages are heavy reads: they go through readInterruptible.
    const read = store.db.readInterruptible.bind(store.db);
    store.db.readInterruptible = (stmt: InStatement, signal: AbortSignal) => {
      queries.push(stmt);
      mostAhead = Math.max(mostAhead, queries.length - chunksTaken);
      running++;
      return read(stmt, signal).finally(() => running--);
    };
    // A stream starts its next query in the promise jobs that follow the previous answer, and
    // all of those run before a timer fires: when no query runs at a timer tick, it stopped reading.
    const readingStopped = async () => {
      do await new Promise((resolve) => setTimeout(resolve, 0)); while (running > 0);
    };
    const { app } = makeLiveApp(store.db);
    const token = await tenantToken(TENANT_A);

    // A client that reads a little and stops: the server reads no further.
    const paused = await get(app, "/v1/session-ends/export?format=csv", token);
    const reader = paused.body!.getReader();
    await reader.read();
    await reader.read();
    await readingStopped();
    ok(queries.length <= 3, `a paused client caused ${queries.length} queries`);
    await reader.cancel();
    const afterCancel = queries.length;
    await readingStopped();
    deepStrictEqual(queries.length, afterCancel);
    queries.length = 0;
    mostAhead = 0;

    // A client that reads everything: 100 keyset queries, each asking for at most 1001 rows.
    const res = await get(app, "/v1/session-ends/export?format=csv", token);
    let bytes = 0;
    let lines = 0;
    let biggestChunk = 0;
    let last = "";
    for await (const chunk of res.body!) {
      bytes += chunk.byteLength;
      biggestChunk = Math.max(biggestChunk, chunk.byteLength);
      for (const byte of chunk) if (byte === 0x0a) lines++;
      last = new TextDecoder().decode(chunk.subarray(Math.max(0, chunk.byteLength - 400)));
      chunksTaken++;
    }
    deepStrictEqual(lines, count + 1);
    deepStrictEqual(queries.length, count / 1000);
    for (const q of queries) {
      const args = (q as { args: number[] }).args;
      deepStrictEqual(args[args.length - 1], 1001);
    }
    // the oldest row comes last
    match(last, /0b0b0b0b-0000-4000-8000-000000000001,.*\r\n$/);
    // every chunk is about 1000 rows, far below the whole body
    ok(biggestChunk < 300_000, `biggest chunk ${biggestChunk} bytes`);
    ok(bytes > 20_000_000, `${bytes} bytes`);
    // Constant memory: the server never ran more than two queries ahead of what the client took
    // (the header chunk counts as one), so at most ~2 chunks of ~1000 rows are ever held.
    ok(mostAhead <= 2, `the server read ${mostAhead} chunks ahead of the client`);
    console.log(
      `export: ${bytes} bytes in ${queries.length} queries, biggest chunk ${biggestChunk}, at most ${mostAhead} chunks ahead`,
    );
  } finally {
    await store.close();
  }
});

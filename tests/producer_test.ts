/**
 * Producer conformance: tests/fixtures/producer_corpus.json holds session
 * ends byte for byte as the poller's Go code writes them — its struct
 * marshalled by encoding/json, every field a string, time.RFC3339 with
 * offsets, every source_ip form the relay produces — each with the row it
 * must become, worked out with Go's own libraries (tests/producer/main.go
 * writes it). The corpus test runs everywhere; the two tests that run Go
 * (the corpus is what the program writes; the events published with the
 * poller's own NATS client, nats.go, become those rows) need Debian's
 * golang-go and golang-github-nats-io-go-nats-dev, which .ci/run installs.
 */
import * as v from "valibot";
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { decodeBatch } from "../src/ingest/decode.ts";
import { ChainHeadCache, prepareBatch } from "../src/store/chain_prep.ts";
import { commitBatch } from "../src/store/commit.ts";
import { FakeMsg } from "../src/testing/fake_msg.ts";
import { POLLER_FIELD_ORDER } from "../scripts/simulator.ts";
import { startService, storedOrQuarantined, waitFor, withWorld } from "./harness.ts";
import { withDb } from "./store_fixture.ts";

const CORPUS = new URL("./fixtures/producer_corpus.json", import.meta.url);
const PROGRAM = new URL("./producer/main.go", import.meta.url).pathname;

const nullable = <T extends v.GenericSchema>(schema: T) => v.nullable(schema);
const Anomaly = v.strictObject({ field: v.string(), value: v.string(), problem: v.string() });
const Row = v.strictObject({
  session_id: v.string(),
  tenant_id: v.string(),
  device_id: v.string(),
  user_id: nullable(v.string()),
  start_time: nullable(v.number()),
  end_time: nullable(v.number()),
  duration_seconds: nullable(v.number()),
  source_ip: nullable(v.string()),
  source_port: nullable(v.number()),
  reason: nullable(v.string()),
  anomalies: v.array(Anomaly),
});
const Fixture = v.strictObject({
  name: v.string(),
  subject: v.string(),
  payload: v.string(),
  received_at: v.number(),
  row: v.optional(Row),
  quarantine: v.optional(v.string()),
});
type Fixture = v.InferOutput<typeof Fixture>;
type ExpectedRow = v.InferOutput<typeof Row>;

const corpusText = await Deno.readTextFile(CORPUS);
const corpus: Fixture[] = v.parse(v.array(Fixture), JSON.parse(corpusText));

/** A stored session_ends row as the corpus writes rows (anomalies parsed), checked by the schema. */
function asExpected(stored: Record<string, unknown>): ExpectedRow {
  const columns = Object.fromEntries(
    ["session_id", "tenant_id", "device_id", "user_id", "start_time", "end_time"]
      .concat(["duration_seconds", "source_ip", "source_port", "reason"])
      .map((column) => [column, stored[column] ?? null]),
  );
  const anomalies = stored.anomalies === null ? [] : JSON.parse(String(stored.anomalies));
  return v.parse(Row, { ...columns, anomalies });
}

/** The stored rows by session_id. */
function bySession(rows: Iterable<Record<string, unknown>>): Map<string, ExpectedRow> {
  const byId = new Map<string, ExpectedRow>();
  for (const row of rows) byId.set(String(row.session_id), asExpected(row));
  return byId;
}

Deno.test("the corpus covers what the issue names: every source_ip form, offsets, empty strings", () => {
  const payloads = corpus.map((f) => JSON.parse(f.payload) as Record<string, string>);
  for (const p of payloads) {
    deepStrictEqual(Object.keys(p), POLLER_FIELD_ORDER, "the struct's field order");
    ok(Object.values(p).every((value) => typeof value === "string"), "every field a string");
  }
  const ips = payloads.map((p) => p.source_ip);
  for (
    const form of [
      /^\d+\.\d+\.\d+\.\d+$/,
      /^\d+\.\d+\.\d+\.\d+:\d+$/,
      /^\[[0-9a-f:]+\]:\d+$/,
      /^\[::ffff:/,
      /%eth0\]/,
      /^$/,
    ]
  ) ok(ips.some((ip) => form.test(ip)), String(form));
  ok(payloads.some((p) => p.start_time.endsWith("-05:00")));
  ok(payloads.some((p) => p.end_time.endsWith("+05:30")));
  ok(payloads.some((p) => p.user_id === ""));
  ok(
    corpusText.includes("\\\\u003c") && corpusText.includes("\\\\u2028"),
    "json.Marshal's escapes",
  );
});

Deno.test("every fixture becomes exactly its expected row, or is quarantined with its reason", async () => {
  await withDb(async (db) => {
    const msgs = corpus.map((f, i) =>
      new FakeMsg({ seq: i + 1, subject: f.subject, data: f.payload, receivedAtMs: f.received_at })
    );
    const batch = await decodeBatch(msgs, { stream: "DEVICE_EVENTS" });
    await commitBatch(db, prepareBatch(batch.rows, batch.letters), new ChainHeadCache());
    const stored = bySession((await db.execute("SELECT * FROM session_ends")).rows);
    const letters = await db.execute("SELECT subject, error FROM dead_letters");
    const refused = new Map(letters.rows.map((r) => [String(r.subject), String(r.error)]));
    for (const f of corpus) {
      if (f.quarantine !== undefined) {
        equal(refused.get(f.subject), f.quarantine, f.name);
        continue;
      }
      ok(f.row, f.name);
      deepStrictEqual(stored.get(f.row.session_id), f.row, f.name);
    }
    equal(stored.size + refused.size, corpus.length, "each fixture once");
  });
});

/** How Go is run: offline, against Debian's packages. */
const GO_ENV = {
  GOPATH: Deno.env.get("PRODUCER_GOPATH") ?? "/usr/share/gocode",
  GO111MODULE: "off",
  GOPROXY: "off",
  GOFLAGS: "",
};

async function go(...args: string[]): Promise<string> {
  const out = await new Deno.Command("go", {
    args: ["run", PROGRAM, ...args],
    env: GO_ENV,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`go run ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** True when `go` runs and the poller's NATS client (nats.go) is where GO_ENV points. */
const hasGo = await (async () => {
  try {
    const out = await new Deno.Command("go", { args: ["version"], stdout: "null", stderr: "null" })
      .output();
    await Deno.stat(`${GO_ENV.GOPATH}/src/github.com/nats-io/nats.go`);
    return out.success;
  } catch {
    return false;
  }
})();
const NEEDS_GO =
  "(needs go and nats.go: apt-get install golang-go golang-github-nats-io-go-nats-dev)";

Deno.test({
  name: `the committed corpus is what the Go program writes ${hasGo ? "" : NEEDS_GO}`.trim(),
  ignore: !hasGo,
  fn: async () => {
    equal(
      await go("corpus"),
      corpusText,
      "regenerate: go run tests/producer/main.go corpus > tests/fixtures/producer_corpus.json",
    );
  },
});

Deno.test({
  name: `published with the poller's own NATS client, every fixture becomes its row ${
    hasGo ? "" : NEEDS_GO
  }`.trim(),
  ignore: !hasGo,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withWorld(async (world) => {
      const service = await startService({ natsUrl: world.nats.wsUrl, databasePath: world.dbPath });
      try {
        await go("publish", world.nats.natsUrl);
        await waitFor(
          "every fixture stored or quarantined",
          async () => await storedOrQuarantined(world.db) === corpus.length,
        );
        const stored = bySession(
          (await world.db.execute("SELECT * FROM session_ends")).rows,
        );
        const letters = await world.db.execute("SELECT subject, error FROM dead_letters");
        const refused = new Map(letters.rows.map((r) => [String(r.subject), String(r.error)]));
        for (const f of corpus) {
          if (f.quarantine !== undefined) equal(refused.get(f.subject), f.quarantine, f.name);
          else deepStrictEqual(stored.get(f.row?.session_id ?? ""), f.row, f.name);
        }
      } finally {
        await service.stop();
      }
    });
  },
});

/**
 * Fault 5: a three-node JetStream cluster on loopback (three nats-server
 * processes, each with its WebSocket gateway) holding DEVICE_EVENTS at three
 * replicas. The stream leader is killed (SIGKILL) mid-ingest while the poller
 * keeps publishing; the service, given all three ws:// URLs, carries on.
 */
import { wsconnect } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { equal, ok } from "node:assert/strict";
import {
  countRows,
  freePort,
  type NatsServer,
  startNatsServer,
  startService,
  waitFor,
} from "../harness.ts";
import { DEVICE_EVENTS_STREAM } from "../../scripts/simulator.ts";
import {
  assertExact,
  assertIntegrity,
  FAULT_OPTS,
  publishUntilAcked,
  report,
  rowsReach,
  tally,
  validEvents,
} from "./fault_kit.ts";
import { createClient } from "@libsql/client";

const NAMES = ["audit-n1", "audit-n2", "audit-n3"];
const DURABLE = "api-session-audit-consumer";

/** Starts three clustered servers with JetStream and WebSocket on loopback. */
async function startCluster(): Promise<NatsServer[]> {
  const routePorts = NAMES.map(() => freePort());
  const routes = routePorts.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ");
  return await Promise.all(NAMES.map((name, i) =>
    startNatsServer({
      serverName: name,
      extraConfig: `cluster {
  name: "audit-test"
  listen: "127.0.0.1:${routePorts[i]}"
  routes: [${routes}]
}`,
    })
  ));
}

async function streamLeader(jsm: JetStreamManager): Promise<string | undefined> {
  const info = await jsm.streams.info(DEVICE_EVENTS_STREAM.name);
  return info.cluster?.leader;
}

Deno.test(
  "three-node cluster, stream at 3 replicas: the stream leader killed mid-ingest, 0 lost, 0 duplicated",
  FAULT_OPTS,
  async () => {
    const servers = await startCluster();
    const wsUrls = servers.map((s) => s.wsUrl);
    const nc = await wsconnect({
      servers: wsUrls,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const js = jetstream(nc);
    const dir = await Deno.makeTempDir({ prefix: "session-audit-cluster-" });
    const dbPath = `${dir}/audit.db`;
    const db = createClient({ url: `file:${dbPath}` });
    try {
      // The cluster elects its meta leader first; until then stream creation fails.
      await waitFor(
        "the stream at 3 replicas",
        async () => {
          await jsm.streams.add({ ...DEVICE_EVENTS_STREAM, num_replicas: 3 });
          return true;
        },
        60_000,
        500,
      );
      const backlog = validEvents(10_000);
      const live = validEvents(10_000);
      let retries = await publishUntilAcked(js, backlog);
      const service = await startService({
        natsUrl: wsUrls.join(","),
        databasePath: dbPath,
        env: { NATS_ACK_WAIT_MS: "5000", LOG_LEVEL: "warn" },
      });
      try {
        await waitFor("ready", async () => (await service.get("/readyz")).status === 200, 30_000);
        const publishing = publishUntilAcked(js, live, 50);
        await waitFor(
          "ingest under way",
          async () => await countRows(db, "session_ends") > 2_000,
          60_000,
          5,
        );
        const leader = await waitFor("a stream leader", () => streamLeader(jsm));
        const victim = servers[NAMES.indexOf(leader)];
        ok(victim, `leader ${leader} is one of ours`);
        const rowsAtKill = await countRows(db, "session_ends");
        const killedAt = performance.now();
        await victim.kill();
        const newLeader = await waitFor(
          "a new stream leader",
          async () => {
            const now = await streamLeader(jsm);
            return now && now !== leader ? now : undefined;
          },
          60_000,
          100,
        );
        const electionSeconds = (performance.now() - killedAt) / 1000;
        retries += await publishing;
        await rowsReach(db, backlog.length + live.length, 180_000);
        await waitFor(
          "the consumer settled",
          async () => {
            const info = await jsm.consumers.info(DEVICE_EVENTS_STREAM.name, DURABLE);
            return info.num_pending === 0 && info.num_ack_pending === 0;
          },
          120_000,
          250,
        );
        const recoverSeconds = (performance.now() - killedAt) / 1000;
        await assertIntegrity(db);
        const result = await tally(db, [...backlog, ...live].map((e) => e.payload.session_id));
        report("3-node cluster, R3 stream, leader killed", {
          ...result,
          killed_leader: leader,
          new_leader: newLeader,
          rows_at_kill: rowsAtKill,
          election_seconds: Math.round(electionSeconds * 10) / 10,
          all_stored_after_kill_seconds: Math.round(recoverSeconds * 10) / 10,
          publish_retries: retries,
        });
        assertExact(result, "after the stream leader was killed");
        equal(await countRows(db, "dead_letters"), 0);
      } finally {
        await service.stop("SIGTERM");
      }
    } finally {
      db.close();
      await nc.close().catch(() => {});
      for (const server of servers) {
        await server.stop();
        await Deno.remove(server.dir, { recursive: true }).catch(() => {});
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

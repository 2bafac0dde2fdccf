/**
 * Scale-out roles (`ROLE`): an `api` process serves the read API and its
 * readiness without NATS; an `ingest` process serves only the operational
 * routes.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { mintToken } from "../src/api/token.ts";
import {
  freePort,
  publishAll,
  sessionEnd,
  startService,
  startWorld,
  TEST_JWT_SECRET,
  waitFor,
} from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("ROLE=api answers /v1 and /readyz without any NATS server", opts, async () => {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-role-" });
  // Nothing listens there: an api process must not even try.
  const service = await startService({
    natsUrl: `ws://127.0.0.1:${freePort()}`,
    databasePath: `${dir}/audit.db`,
    env: { ROLE: "api" },
  });
  try {
    const ready = await service.get("/readyz");
    deepStrictEqual(ready.status, 200, JSON.stringify(ready.body));
    const token = await mintToken({
      secret: TEST_JWT_SECRET,
      tenantId: "11111111-1111-4111-8111-111111111111",
    });
    const list = await service.get("/v1/session-ends", { Authorization: `Bearer ${token}` });
    deepStrictEqual(list.status, 200, JSON.stringify(list.body));
    deepStrictEqual(list.body, { items: [], next_cursor: null });
    deepStrictEqual((await service.get("/metrics")).status, 200);
    ok(!service.logs.some((l) => l.includes("connecting to nats")), "never connects to NATS");
  } finally {
    deepStrictEqual((await service.stop("SIGTERM")).code, 0, service.logs.join("\n"));
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "ROLE=ingest stores events and answers 404 on /v1, ops routes still served",
  opts,
  async () => {
    const world = await startWorld();
    const service = await startService({
      natsUrl: world.nats.wsUrl,
      databasePath: world.dbPath,
      env: { ROLE: "ingest" },
    });
    try {
      const event = sessionEnd();
      await publishAll(world.t.js, [{ payload: event }]);
      await waitFor("ready", async () => (await service.get("/readyz")).status === 200);
      await waitFor(
        "the row",
        async () =>
          (await world.db.execute("SELECT count(*) AS n FROM session_ends")).rows[0].n === 1,
      );
      const token = await mintToken({ secret: TEST_JWT_SECRET, tenantId: event.tenant_id });
      const auth = { Authorization: `Bearer ${token}` };
      deepStrictEqual((await service.get("/v1/session-ends", auth)).status, 404);
      deepStrictEqual(
        (await service.get(`/v1/session-ends/${event.session_id}`, auth)).status,
        404,
      );
      deepStrictEqual((await service.get("/healthz")).status, 200);
      deepStrictEqual((await service.get("/metrics")).status, 200);
    } finally {
      deepStrictEqual((await service.stop("SIGTERM")).code, 0, service.logs.join("\n"));
      await world.close();
    }
  },
);

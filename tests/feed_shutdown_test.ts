/**
 * A live feed (server-sent events) open on the real server ends when the
 * process is asked to stop, so the graceful shutdown does not wait on it.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { mintToken } from "../src/api/token.ts";
import { freePort, settles, startService, TEST_JWT_SECRET } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("SIGTERM ends open live feeds and the process exits 0", opts, async () => {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-sse-" });
  const service = await startService({
    natsUrl: `ws://127.0.0.1:${freePort()}`,
    databasePath: `${dir}/audit.db`,
    env: { ROLE: "api" },
  });
  try {
    const token = await mintToken({
      secret: TEST_JWT_SECRET,
      tenantId: "11111111-1111-4111-8111-111111111111",
    });
    const streams = await Promise.all(
      [1, 2].map(() =>
        fetch(`${service.baseUrl}/v1/session-ends/feed`, {
          headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
        })
      ),
    );
    const readers = streams.map((res) => {
      deepStrictEqual(res.status, 200);
      return res.body!.getReader();
    });
    for (const reader of readers) {
      const first = await reader.read();
      deepStrictEqual(new TextDecoder().decode(first.value), "retry: 2000\n\n");
    }
    const stopped = service.stop("SIGTERM");
    for (const reader of readers) {
      const end = await settles(
        "the end of a live feed after SIGTERM",
        reader.read().catch(() => ({ done: true })),
      );
      ok(end.done, "the stream ended");
    }
    // The HTTP server's shutdown waits for every open response: a live feed
    // that did not end would keep the process running.
    const status = await settles("the exit of the process after SIGTERM", stopped);
    deepStrictEqual(status.code, 0, service.logs.join("\n"));
  } finally {
    await service.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

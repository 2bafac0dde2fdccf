/**
 * The request-duration histogram as a scraper sees it on `/metrics`: one
 * series per route pattern and status class, never the requested path.
 */
import { equal, ok } from "node:assert/strict";
import { get, makeApp, openTestDb, TENANT_A, tenantToken } from "./api_fixture.ts";

const NAME = "session_audit_http_request_duration_seconds";

/** The `_count` samples of the histogram, by their label list. */
async function requestCounts(app: ReturnType<typeof makeApp>["app"]): Promise<Map<string, number>> {
  const text = await (await get(app, "/metrics")).text();
  const counts = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = line.match(new RegExp(`^${NAME}_count\\{(.*)\\} (\\d+)$`));
    if (match) counts.set(match[1], Number(match[2]));
  }
  return counts;
}

Deno.test("requests are counted by the pattern of the route that answered and status class", async () => {
  const testDb = await openTestDb();
  try {
    const { app } = makeApp(testDb.db);
    const token = await tenantToken(TENANT_A);
    const unknownId = crypto.randomUUID();
    equal((await get(app, `/v1/session-ends/${unknownId}`, token)).status, 404);
    equal((await get(app, `/v1/session-ends/${crypto.randomUUID()}`, token)).status, 404);
    equal((await get(app, "/v1/session-ends/not-a-uuid", token)).status, 400);
    equal((await get(app, "/v1/session-ends", token)).status, 200);
    equal((await get(app, "/v1/session-ends")).status, 401);
    equal((await get(app, "/no/such/path")).status, 404);
    equal((await get(app, "/healthz")).status, 200);
    testDb.db.close();
    const failed = await get(app, "/v1/session-ends", token);
    ok(failed.status >= 500, `a closed database answers ${failed.status}`);

    const counts = await requestCounts(app);
    equal(counts.get('route="/v1/session-ends/:session_id",status_class="4xx"'), 3);
    equal(counts.get('route="/v1/session-ends",status_class="2xx"'), 1);
    equal(counts.get('route="/v1/session-ends",status_class="5xx"'), 1);
    equal(counts.get('route="/v1/*",status_class="4xx"'), 1, "refused by authentication");
    equal(counts.get('route="/*",status_class="4xx"'), 1, "no route has the path");
    equal(counts.get('route="/healthz",status_class="2xx"'), 1);
    equal(counts.size, 6, [...counts.keys()].join("\n"));

    const text = await (await get(app, "/metrics")).text();
    for (const path of [unknownId, "not-a-uuid", "/no/such/path", "{[0-9a-fA-F]"]) {
      ok(!text.includes(path), `${path} is in the exposition`);
    }
    ok(text.includes(`${NAME}_count{route="/metrics",status_class="2xx"} 1`), "the first scrape");
  } finally {
    await testDb.close();
  }
});

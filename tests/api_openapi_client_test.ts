/**
 * The OpenAPI document as a client developer uses it: a typed client is
 * generated from the served `/openapi.json` with openapi-typescript, type-
 * checked with `deno check`, and lists session ends through openapi-fetch
 * against the app served on a loopback port. The generated code lives in a
 * temporary directory.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import openapiTS, { astToString } from "openapi-typescript";
import {
  byListOrder,
  generateRows,
  insertRows,
  makeApp,
  openTestDb,
  TENANT_A,
  TENANT_B,
  tenantToken,
} from "./api_fixture.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** A client written against the generated types, as a developer would write it. */
const CLIENT = `import createClient from "openapi-fetch";
import type { components, paths } from "./schema.d.ts";

/** How long a refused request should wait (every /v1 operation may answer 429). */
export function retryAfter(
  refused: components["responses"]["TooManyRequests"]["headers"],
): number {
  return refused["Retry-After"];
}

/** Why a heavy query answered 503: the codes are typed. */
export function stoppedBy(
  body: components["schemas"]["QueryStopped"],
): "query_budget_exceeded" | "shutting_down" {
  return body.error.code;
}

/** Every session end the token may read, page by page, newest first. */
export async function listSessionEnds(baseUrl: string, token: string): Promise<string[]> {
  const client = createClient<paths>({ baseUrl, headers: { Authorization: \`Bearer \${token}\` } });
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const { data, error, response } = await client.GET("/v1/session-ends", {
      params: { query: { limit: 2, cursor } },
    });
    if (error !== undefined) throw new Error(\`\${response.status}: \${error.error.message}\`);
    for (const item of data.items) ids.push(item.session_id);
    cursor = data.next_cursor ?? undefined;
  } while (cursor !== undefined);
  return ids;
}

/** What the generated types refuse (never called). */
export async function refusedByTheTypes(baseUrl: string): Promise<void> {
  const client = createClient<paths>({ baseUrl });
  // @ts-expect-error: no such route
  await client.GET("/v1/sessions");
  // @ts-expect-error: no such query parameter
  await client.GET("/v1/session-ends", { params: { query: { page: "2" } } });
  // @ts-expect-error: a page size is an integer
  await client.GET("/v1/session-ends", { params: { query: { limit: "2" } } });
  const { data } = await client.GET("/v1/session-ends/{session_id}", {
    params: { path: { session_id: "00000000-0000-4000-8000-000000000000" } },
  });
  // @ts-expect-error: no such field on an item
  data?.session;
  const reason: string | null | undefined = data?.reason;
  void reason;
}
`;

Deno.test("a client generated from /openapi.json type-checks and lists session ends", async () => {
  const store = await openTestDb();
  const dir = await Deno.makeTempDir({ prefix: "session-audit-client-" });
  const rows = generateRows(TENANT_A, 5, 3, 0xf1);
  await insertRows(store.db, rows);
  await insertRows(store.db, generateRows(TENANT_B, 2, 4, 0xf2));
  const { app } = makeApp(store.db);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const baseUrl = `http://127.0.0.1:${server.addr.port}`;
  try {
    const served = await (await fetch(`${baseUrl}/openapi.json`)).json();
    await Deno.writeTextFile(`${dir}/schema.d.ts`, astToString(await openapiTS(served)));
    await Deno.writeTextFile(`${dir}/client.ts`, CLIENT);

    const check = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", CONFIG, "--no-lock", `${dir}/client.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(check.stderr) + new TextDecoder().decode(check.stdout);
    ok(check.success, `deno check of the generated client failed:\n${output}`);

    const client = await import(`file://${dir}/client.ts`);
    const ids = await client.listSessionEnds(baseUrl, await tenantToken(TENANT_A));
    deepStrictEqual(ids, [...rows].sort(byListOrder).map((row) => row.sessionId));
  } finally {
    await server.shutdown();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

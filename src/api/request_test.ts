import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { HTTPException } from "hono/http-exception";
import type { ListFilter } from "../store/queries.ts";
import { cursorBinding, listFilter, tenantFor, valid } from "./request.ts";

const TENANT = "aaaaaaaa-0000-4000-8000-000000000001";
const OTHER = "bbbbbbbb-0000-4000-8000-000000000002";

/** The status and JSON body of the HTTPException `fn` throws. */
async function refusal(fn: () => unknown): Promise<[number, unknown]> {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof HTTPException)) throw err;
    return [err.status, await err.getResponse().json()];
  }
  throw new Error("nothing was thrown");
}

Deno.test("valid returns a parsed value, or throws a 400 naming the parameter", async () => {
  deepStrictEqual(valid({ ok: true, value: { limit: 5 } }), { limit: 5 });
  deepStrictEqual(
    await refusal(() => valid({ ok: false, param: "limit", message: "must be an integer" })),
    [400, {
      error: { code: "invalid_parameter", message: "limit must be an integer", param: "limit" },
    }],
  );
});

Deno.test("a tenant token reads its own tenant; asking for another is a 403 naming tenant_id", async () => {
  const scope = { kind: "tenant", tenantId: TENANT } as const;
  equal(tenantFor(scope, undefined), TENANT);
  equal(tenantFor(scope, TENANT), TENANT);
  const [status, body] = await refusal(() => tenantFor(scope, OTHER));
  equal(status, 403);
  deepStrictEqual((body as { error: { param: string } }).error.param, "tenant_id");
});

Deno.test("an administrator reads the tenant it names, or every tenant", () => {
  equal(tenantFor({ kind: "admin" }, OTHER), OTHER);
  equal(tenantFor({ kind: "admin" }, undefined), undefined);
});

Deno.test("listFilter keeps every filter and confines the tenant", () => {
  const query = { deviceId: "d", userId: "u", reason: "normal", since: 1, until: 2 };
  deepStrictEqual(listFilter({ kind: "tenant", tenantId: TENANT }, query), {
    tenantId: TENANT,
    ...query,
  });
  throws(() => listFilter({ kind: "tenant", tenantId: TENANT }, { tenantId: OTHER }));
});

Deno.test("a cursor binding differs whenever the tenant or any filter differs", () => {
  const base: ListFilter = { tenantId: TENANT, deviceId: "d", userId: "u", reason: "r" };
  const variants: ListFilter[] = [
    base,
    { ...base, tenantId: undefined },
    { ...base, tenantId: OTHER },
    { ...base, deviceId: undefined },
    { ...base, userId: "v" },
    { ...base, reason: undefined },
    { ...base, since: 0 },
    { ...base, until: 0 },
    { ...base, since: 1, until: 2 },
    { ...base, since: 2, until: 1 },
  ];
  const bindings = new Set(variants.map(cursorBinding));
  equal(bindings.size, variants.length);
  equal(cursorBinding({ ...base }), cursorBinding(base));
});

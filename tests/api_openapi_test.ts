import { deepStrictEqual, match, ok } from "node:assert/strict";
import { get, insertRows, openTestDb, TENANT_A, tenantToken } from "./api_fixture.ts";
import { generateRows } from "./api_fixture.ts";
import { makeLiveApp } from "./api_live_fixture.ts";
import {
  DeadLetterListQuerySchema,
  ExportQuerySchema,
  FeedQuerySchema,
  GetQuerySchema,
  ListQuerySchema,
  StatsQuerySchema,
} from "../src/api/query.ts";
import { DOCS_CSP } from "../src/api/docs.ts";
import { Validator } from "@seriousme/openapi-schema-validator";

type Json = { [key: string]: unknown };

const METHODS = ["get", "post", "put", "patch", "delete"];

/** Every `$ref` in the document points at something that exists. */
function checkRefs(node: unknown, doc: Json, where = "#"): void {
  if (Array.isArray(node)) return node.forEach((n, i) => checkRefs(n, doc, `${where}/${i}`));
  if (typeof node !== "object" || node === null) return;
  for (const [key, value] of Object.entries(node)) {
    if (key === "$ref") {
      ok(typeof value === "string" && value.startsWith("#/"), `${where}: ${value}`);
      let target: unknown = doc;
      for (const part of (value as string).slice(2).split("/")) target = (target as Json)?.[part];
      ok(target !== undefined, `${where}: dangling ${value}`);
    } else checkRefs(value, doc, `${where}/${key}`);
  }
}

/** A JSON Schema sanity check: known keywords with values of the right kind. */
function checkSchema(schema: unknown, where: string): void {
  ok(typeof schema === "object" && schema !== null, `${where} is not a schema object`);
  const s = schema as Json;
  const types = ["string", "number", "integer", "boolean", "object", "array", "null"];
  if ("type" in s) ok(types.includes(s.type as string), `${where}: type ${s.type}`);
  ok(
    "type" in s || "anyOf" in s || "const" in s || "enum" in s || "$ref" in s,
    `${where}: says nothing about its values: ${JSON.stringify(s)}`,
  );
  if (s.pattern !== undefined) new RegExp(s.pattern as string, "u");
  if (s.required !== undefined) {
    ok(Array.isArray(s.required));
    for (const name of s.required as string[]) {
      ok(name in (s.properties as Json), `${where}: required ${name} not in properties`);
    }
  }
  for (const [name, sub] of Object.entries((s.properties ?? {}) as Json)) {
    checkSchema(sub, `${where}.${name}`);
  }
  if (s.items !== undefined) checkSchema(s.items, `${where}[]`);
  for (const [i, sub] of ((s.anyOf ?? []) as unknown[]).entries()) {
    checkSchema(sub, `${where}|${i}`);
  }
}

function entryNames(schema: unknown): string[] {
  const s = schema as { entries?: Json; pipe?: unknown[] };
  return Object.keys(s.entries ?? (s.pipe?.[0] as { entries: Json }).entries);
}

Deno.test("GET /openapi.json: OpenAPI 3.1 covering every route with its parameters", async (t) => {
  const store = await openTestDb();
  try {
    await insertRows(store.db, generateRows(TENANT_A, 3, 1, 0xac));
    const { app } = makeLiveApp(store.db);
    const res = await get(app, "/openapi.json");
    deepStrictEqual(res.status, 200);
    const doc = await res.json() as Json;
    const paths = doc.paths as Record<string, Record<string, Json>>;

    await t.step("openapi 3.1.x with info, paths and a bearer scheme per token mode", () => {
      match(String(doc.openapi), /^3\.1\.\d+$/);
      ok(typeof (doc.info as Json).title === "string");
      ok(typeof (doc.info as Json).version === "string");
      const schemes = (doc.components as Json).securitySchemes as Record<string, Json>;
      deepStrictEqual(Object.keys(schemes), [
        "serviceToken",
        "platformToken",
        "identityProviderToken",
      ]);
      for (const [name, scheme] of Object.entries(schemes)) {
        deepStrictEqual(scheme, {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: scheme.description,
        }, name);
      }
      match(String(schemes.serviceToken.description), /API_JWT_SECRET/);
      match(String(schemes.platformToken.description), /type access.*refresh tokens are refused/);
      match(
        String(schemes.identityProviderToken.description),
        /RS256, ES256 or EdDSA.*API_JWKS_URL/,
      );
      checkRefs(doc, doc);
    });

    await t.step("the official OpenAPI 3.1 schema validates the document", async () => {
      const validator = new Validator();
      const result = await validator.validate(structuredClone(doc));
      deepStrictEqual(result.errors, undefined);
      deepStrictEqual([result.valid, validator.version], [true, "3.1"]);
    });

    await t.step("every operation has a unique operationId", () => {
      const ids = Object.values(paths).flatMap((item) =>
        Object.entries(item).filter(([m]) => METHODS.includes(m)).map(([, op]) => op.operationId)
      );
      for (const id of ids) match(String(id), /^[a-z][A-Za-z]+$/);
      deepStrictEqual(new Set(ids).size, ids.length, `duplicates in ${ids}`);
      deepStrictEqual(ids.length, 13);
    });

    await t.step("every route the app serves is in the document, and nothing else", () => {
      const served = new Set(
        app.routes
          .filter((r) => METHODS.includes(r.method.toLowerCase()))
          .map((r) =>
            // `:name` and `:name{pattern}` are both `{name}` in OpenAPI
            `${r.method.toLowerCase()} ${
              r.path.replace(/:([a-z_]+)(?:\{[^/]*\})?/g, "{$1}").replace(/\/$/, "")
            }`
          ),
      );
      const documented = new Set(
        Object.entries(paths).flatMap(([path, item]) =>
          Object.keys(item).filter((m) => METHODS.includes(m)).map((m) => `${m} ${path}`)
        ),
      );
      const undocumented = [...served].filter((r) => !documented.has(r));
      deepStrictEqual(
        undocumented,
        [],
        "served but missing from src/api/openapi.ts: add their paths",
      );
      const unserved = [...documented].filter((r) => !served.has(r));
      deepStrictEqual(unserved, [], "documented in src/api/openapi.ts but not served");
      for (
        const route of [
          "get /healthz",
          "get /readyz",
          "get /metrics",
          "get /openapi.json",
          "get /docs",
          "get /v1/session-ends",
          "get /v1/session-ends/{session_id}",
          "get /v1/session-ends/export",
          "get /v1/session-ends/stats",
          "get /v1/session-ends/feed",
          "get /v1/dead-letters",
          "post /v1/dead-letters/{id}/replay",
        ]
      ) ok(documented.has(route), route);
    });

    await t.step("query parameters are exactly those the routes validate", () => {
      const expectations: [string, unknown][] = [
        ["/v1/session-ends", ListQuerySchema],
        ["/v1/session-ends/export", ExportQuerySchema],
        ["/v1/session-ends/stats", StatsQuerySchema],
        ["/v1/session-ends/feed", FeedQuerySchema],
        ["/v1/session-ends/{session_id}", GetQuerySchema],
        ["/v1/dead-letters", DeadLetterListQuerySchema],
      ];
      for (const [path, schema] of expectations) {
        const params = (paths[path].get.parameters as Json[]).filter((p) => p.in === "query");
        deepStrictEqual(params.map((p) => p.name), entryNames(schema), path);
        for (const p of params) checkSchema(p.schema, `${path}?${p.name}`);
      }
      const stats = paths["/v1/session-ends/stats"].get.parameters as Json[];
      const groupBy = stats.find((p) => p.name === "group_by") as Json;
      deepStrictEqual(groupBy.required, true);
      deepStrictEqual((groupBy.schema as Json).enum, ["device_id", "user_id", "reason", "day"]);
      const replay = paths["/v1/dead-letters/{id}/replay"].post.parameters as Json[];
      deepStrictEqual(replay.map((p) => [p.name, p.in, p.required]), [["id", "path", true]]);
      const one = paths["/v1/session-ends/{session_id}"].get.parameters as Json[];
      deepStrictEqual((one[0].schema as Json).format, "uuid");
      // A parameter whose text is parsed says how to write it: clients send numbers and times.
      const list = paths["/v1/session-ends"].get.parameters as Json[];
      const schemaOf = (name: string) => (list.find((p) => p.name === name) as Json).schema;
      deepStrictEqual(schemaOf("limit"), {
        type: "integer",
        minimum: 1,
        maximum: 500,
        default: 50,
      });
      deepStrictEqual(schemaOf("since"), { type: "string", format: "date-time" });
      deepStrictEqual(schemaOf("until"), { type: "string", format: "date-time" });
    });

    await t.step(
      "/v1 operations take any token mode, public ones declare none; answers are described",
      () => {
        const anyToken = [{ serviceToken: [] }, { platformToken: [] }, {
          identityProviderToken: [],
        }];
        for (const [path, item] of Object.entries(paths)) {
          for (const [method, op] of Object.entries(item)) {
            deepStrictEqual(op.security, path.startsWith("/v1/") ? anyToken : [], path);
            const responses = op.responses as Json;
            ok(Object.keys(responses).length > 0, `${method} ${path}`);
            for (const status of Object.keys(responses)) match(status, /^[1-5]\d\d$/);
          }
        }
      },
    );

    await t.step(
      "429 with Retry-After on every /v1 operation; 503 where a heavy query runs",
      () => {
        const heavy = ["/v1/session-ends/export", "/v1/session-ends/stats", "/v1/integrity"];
        for (const [path, item] of Object.entries(paths)) {
          for (const [method, op] of Object.entries(item)) {
            const responses = op.responses as Json;
            const v1 = path.startsWith("/v1/");
            deepStrictEqual(
              responses["429"],
              v1 ? { $ref: "#/components/responses/TooManyRequests" } : undefined,
              `${method} ${path}`,
            );
            deepStrictEqual(
              responses["503"],
              heavy.includes(path)
                ? { $ref: "#/components/responses/QueryStopped" }
                : path === "/readyz"
                ? responses["503"]
                : undefined,
              `${method} ${path}`,
            );
          }
        }
        const components = doc.components as { responses: Record<string, Json>; schemas: Json };
        const tooMany = components.responses.TooManyRequests;
        deepStrictEqual((tooMany.headers as Record<string, Json>)["Retry-After"].required, true);
        const stopped = components.schemas.QueryStopped as Json;
        const code = ((stopped.properties as Json).error as { properties: Json }).properties
          .code as Json;
        deepStrictEqual(code.enum, ["query_budget_exceeded", "shutting_down"]);
      },
    );

    await t.step("component schemas are sane and match a real item", async () => {
      const schemas = (doc.components as Json).schemas as Json;
      for (const [name, schema] of Object.entries(schemas)) checkSchema(schema, name);
      const item = schemas.SessionEndItem as Json;
      const list = await (await get(app, "/v1/session-ends", await tenantToken(TENANT_A)))
        .json();
      deepStrictEqual(Object.keys(list.items[0]).sort(), [...(item.required as string[])].sort());
      deepStrictEqual(item.additionalProperties, false);
    });
  } finally {
    await store.close();
  }
});

Deno.test("GET /docs: a self-contained page listing every path, no script, no CDN", async () => {
  const store = await openTestDb();
  try {
    const { app } = makeLiveApp(store.db);
    const res = await get(app, "/docs");
    deepStrictEqual(res.status, 200);
    match(res.headers.get("Content-Type") ?? "", /^text\/html/);
    deepStrictEqual(res.headers.get("Content-Security-Policy"), DOCS_CSP);
    const html = await res.text();
    const doc = await (await get(app, "/openapi.json")).json();
    for (const path of Object.keys(doc.paths)) {
      ok(html.includes(`<span class="path">${path}</span>`), path);
    }
    ok(html.includes("group_by"));
    for (const mode of ["serviceToken", "platformToken", "identityProviderToken"]) {
      ok(html.includes(`<code>${mode}</code>`), mode);
    }
    ok(!/<script/i.test(html), "no script");
    ok(!/(src|href)="(https?:)?\/\//i.test(html), "nothing fetched from elsewhere");
    // the API itself keeps the strict policy
    const api = await get(app, "/openapi.json");
    match(api.headers.get("Content-Security-Policy") ?? "", /default-src 'none'/);
    ok(!(api.headers.get("Content-Security-Policy") ?? "").includes("unsafe-inline"));
  } finally {
    await store.close();
  }
});

/**
 * The OpenAPI 3.1 document of the service (`GET /openapi.json`): the paths
 * are written here by hand, their parameter and response schemas are
 * generated from the very valibot schemas the routes validate with and the
 * answers are checked against (`query.ts`, `path_params.ts`, `schemas.ts`).
 *
 * @module
 */
import { toJsonSchema } from "@valibot/to-json-schema";
import type * as v from "valibot";
import { DeadLetterIdSchema, SessionIdSchema } from "./path_params.ts";
import {
  DeadLetterListQuerySchema,
  ExportQuerySchema,
  FeedQuerySchema,
  GetQuerySchema,
  ListQuerySchema,
  StatsQuerySchema,
} from "./query.ts";
import { wireForm } from "./query_values.ts";
import {
  DeadLetterPageSchema,
  ErrorBodySchema,
  FeedPageSchema,
  HealthSchema,
  QueryStoppedBodySchema,
  ReadySchema,
  ReplayAnswerSchema,
  SessionEndItemSchema,
  SessionEndPageSchema,
  StatsAnswerSchema,
  TooManyRequestsBodySchema,
} from "./schemas.ts";

/** A JSON Schema (2020-12) or OpenAPI object: plain JSON. */
export type JsonObject = { [key: string]: unknown };

/**
 * Query parameters are converted as the strings they arrive as, except
 * those whose text is parsed (page sizes, times): these say how to write it.
 */
const QUERY_CONVERSION = {
  target: "draft-2020-12",
  typeMode: "input",
  errorMode: "ignore",
  overrideSchema: ({ valibotSchema }: { valibotSchema: object }) => wireForm(valibotSchema),
} as const;
const RESPONSE_CONVERSION = { target: "draft-2020-12", errorMode: "ignore" } as const;

const DESCRIPTIONS: Record<string, string> = {
  tenant_id:
    "Administrators: read only this tenant. A tenant token may name only its own tenant (another is 403).",
  device_id: "Only this device (UUID, any letter case).",
  user_id: "Only this user (UUID, any letter case).",
  reason: "Exact reason, e.g. idle_timeout.",
  since: "RFC 3339; end_time >= since. Rows without end_time are then left out.",
  until: "RFC 3339; end_time < until; must be after since.",
  limit: "Page size, an integer: list 1-500, feed and stats 1-1000, dead letters 1-100.",
  cursor: "The next_cursor of the previous page, unchanged, with the same filters.",
  format: "csv (RFC 4180, header row, formulas neutralised) or ndjson (one item per line).",
  group_by: "device_id, user_id, reason, or day (UTC date of end_time).",
  after: "The next token of the previous feed page (absent: from the first stored row).",
};

function withoutMeta(schema: JsonObject): JsonObject {
  const { $schema: _, ...rest } = schema;
  return rest;
}

function jsonSchema(
  schema: v.GenericSchema,
  config: typeof QUERY_CONVERSION | typeof RESPONSE_CONVERSION,
): JsonObject {
  return withoutMeta(toJsonSchema(schema, config) as JsonObject);
}

/** The `in: query` parameters of a query schema (a strict object, maybe piped). */
export function queryParameters(schema: v.GenericSchema): JsonObject[] {
  const json = jsonSchema(schema, QUERY_CONVERSION);
  const properties = (json.properties ?? {}) as Record<string, JsonObject>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: "query",
    required: required.has(name),
    ...(DESCRIPTIONS[name] ? { description: DESCRIPTIONS[name] } : {}),
    schema: property.type === "integer" ? integerParameter(property) : property,
  }));
}

/** An integer parameter's schema without what its text's schema added (pattern, default as text). */
function integerParameter({ pattern: _, ...schema }: JsonObject): JsonObject {
  return schema.default === undefined ? schema : { ...schema, default: Number(schema.default) };
}

function pathParameter(name: string, schema: v.GenericSchema, description: string): JsonObject {
  return {
    name,
    in: "path",
    required: true,
    description,
    schema: jsonSchema(schema, QUERY_CONVERSION),
  };
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errorRef = (name: string) => ({ $ref: `#/components/responses/${name}` });
const json = (name: string, description: string) => ({
  description,
  content: { "application/json": { schema: ref(name) } },
});
/** The errors every `/v1` route may answer (429: every route is behind the fair-sharing limits). */
const V1_ERRORS = {
  "400": errorRef("InvalidParameter"),
  "401": errorRef("Unauthorized"),
  "403": errorRef("Forbidden"),
  "429": errorRef("TooManyRequests"),
};
/** What a heavy query (stats, an export, an integrity walk) may answer besides. */
const HEAVY_QUERY_ERRORS = { "503": errorRef("QueryStopped") };

/** `Retry-After` in whole seconds, as the limits and shutdown send it. */
const retryAfter = (description: string, required: boolean) => ({
  description,
  required,
  schema: { type: "integer", minimum: 1 },
});

/** Every `/v1` operation takes any of the accepted bearer tokens. */
const V1_SECURITY = [{ serviceToken: [] }, { platformToken: [] }, { identityProviderToken: [] }];

function v1Get(
  operationId: string,
  summary: string,
  parameters: JsonObject[],
  ok: JsonObject,
  extra = {},
): JsonObject {
  return {
    get: {
      operationId,
      summary,
      security: V1_SECURITY,
      parameters,
      responses: { "200": ok, ...V1_ERRORS, ...extra },
    },
  };
}

/** A route that needs no token. */
function publicGet(operationId: string, summary: string, responses: JsonObject): JsonObject {
  return { get: { operationId, summary, security: [], responses } };
}

const bearerJwt = (description: string) => ({
  type: "http",
  scheme: "bearer",
  bearerFormat: "JWT",
  description,
});

/** The accepted token modes: all are `Authorization: Bearer <JWT>`; each reads what its claims grant. */
const SECURITY_SCHEMES = {
  serviceToken: bearerJwt(
    "This service's own token (deno task token): HS256 with API_JWT_SECRET; exp required; a tenant_id claim reads that tenant, role admin reads every tenant.",
  ),
  platformToken: bearerJwt(
    "An access token of the platform, as issued, HS256 with its secret (API_JWT_SECRET): sub, tenant_id (null for super_admin), role, type access (refresh tokens are refused), iat, exp. Roles in API_ADMIN_ROLES (default admin, super_admin) read every tenant; API_READ_ROLES may limit who reads at all.",
  ),
  identityProviderToken: bearerJwt(
    "A token of an identity provider, RS256, ES256 or EdDSA, verified with the keys published at API_JWKS_URL; iss and aud pinned when API_JWKS_ISSUER and API_JWKS_AUDIENCE are set; tenant_id and role map as for platform tokens.",
  ),
};

/** Builds the OpenAPI 3.1 document. */
export function openApiDocument(): JsonObject {
  const errorResponse = (description: string) => ({
    description,
    content: { "application/json": { schema: ref("Error") } },
  });
  return {
    openapi: "3.1.0",
    info: {
      title: "session-audit",
      version: "1",
      description:
        "Tenant-scoped audit trail of SSH session ends. Every /v1 route needs a bearer JWT: this service's own token, the platform's access token or an identity provider's token (see the security schemes). A tenant_id claim confines it to that tenant; an administrator role reads every tenant. exp, nbf and iat are honoured within a clock leeway (API_JWT_LEEWAY_SECONDS, default 60 s).",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    paths: {
      "/healthz": publicGet("getHealth", "Liveness: 200 while the process runs", {
        "200": json("Health", "alive"),
      }),
      "/readyz": publicGet(
        "getReadiness",
        "Readiness: the database answers and the consumer is bound",
        { "200": json("Ready", "ready"), "503": json("Ready", "not ready, with the reasons") },
      ),
      "/metrics": publicGet("getMetrics", "Prometheus metrics", {
        "200": {
          description: "text exposition format 0.0.4",
          content: { "text/plain": { schema: { type: "string" } } },
        },
      }),
      "/openapi.json": publicGet("getOpenApiDocument", "This document", {
        "200": {
          description: "OpenAPI 3.1",
          content: { "application/json": { schema: { type: "object" } } },
        },
      }),
      "/docs": publicGet(
        "getDocsPage",
        "This document as a self-contained HTML page (works offline)",
        {
          "200": {
            description: "HTML",
            content: { "text/html": { schema: { type: "string" } } },
          },
        },
      ),
      "/v1/session-ends": v1Get(
        "listSessionEnds",
        "Session ends, newest end_time first, keyset-paged",
        queryParameters(ListQuerySchema),
        json("SessionEndPage", "one page; follow next_cursor until null"),
      ),
      "/v1/session-ends/export": v1Get(
        "exportSessionEnds",
        "Every matching session end as CSV or NDJSON, streamed (a download)",
        queryParameters(ExportQuerySchema),
        {
          description:
            'the rows in list order, with Content-Disposition: attachment; filename="session-ends-<tenant|all>-<UTC timestamp>.<format>"',
          content: {
            "text/csv": { schema: { type: "string" } },
            "application/x-ndjson": {
              schema: { type: "string" },
              "x-itemSchema": ref("SessionEndItem"),
            },
          },
        },
        HEAVY_QUERY_ERRORS,
      ),
      "/v1/session-ends/stats": v1Get(
        "getSessionEndStats",
        "Sessions and durations per device, user, reason or UTC day",
        queryParameters(StatsQuerySchema),
        json("StatsAnswer", "groups by sessions descending, then key ascending (null last)"),
        HEAVY_QUERY_ERRORS,
      ),
      "/v1/session-ends/feed": v1Get(
        "getSessionEndFeed",
        "Rows in storage order for incremental sync; a live tail with Accept: text/event-stream",
        [
          ...queryParameters(FeedQuerySchema),
          {
            name: "Last-Event-ID",
            in: "header",
            required: false,
            description:
              "Live tail only: resume after this event id (a feed token); wins over after.",
            schema: { type: "string" },
          },
        ],
        {
          description:
            "JSON: a page and the next token (always present). text/event-stream: events whose id is the feed token and data an item; comment heartbeats.",
          content: {
            "application/json": { schema: ref("FeedPage") },
            "text/event-stream": {
              schema: { type: "string" },
              "x-itemSchema": ref("SessionEndItem"),
            },
          },
        },
      ),
      "/v1/session-ends/{session_id}": v1Get(
        "getSessionEnd",
        "One session end",
        [
          pathParameter("session_id", SessionIdSchema, "UUID"),
          ...queryParameters(GetQuerySchema),
        ],
        json("SessionEndItem", "the item"),
        { "404": errorRef("NotFound") },
      ),
      "/v1/integrity": v1Get(
        "verifyIntegrity",
        "Verifies the hash chain of the caller's tenant (an administrator: one tenant with tenant_id, or every tenant)",
        queryParameters(GetQuerySchema),
        {
          description: "the verification result (ok, rows_checked, first_broken, head, …)",
          content: { "application/json": { schema: { type: "object" } } },
        },
        HEAVY_QUERY_ERRORS,
      ),
      "/v1/dead-letters": v1Get(
        "listDeadLetters",
        "Quarantined messages, newest first (administrators only)",
        queryParameters(DeadLetterListQuerySchema),
        json("DeadLetterPage", "one page; follow next_cursor until null"),
      ),
      "/v1/dead-letters/{id}/replay": {
        post: {
          operationId: "replayDeadLetter",
          summary:
            "Re-validate one quarantined message with today's rules; store it if valid (administrators only)",
          security: V1_SECURITY,
          parameters: [pathParameter("id", DeadLetterIdSchema, "The dead letter's id")],
          responses: {
            "200": json("ReplayAnswer", "stored now, or its session_id was already stored"),
            ...V1_ERRORS,
            "404": errorRef("NotFound"),
            "409": errorResponse("already replayed"),
            "422": errorResponse("still invalid: the message is today's reason (kept quarantined)"),
          },
        },
      },
    },
    components: {
      securitySchemes: SECURITY_SCHEMES,
      responses: {
        InvalidParameter: errorResponse("a bad parameter, named in error.param"),
        Unauthorized: errorResponse("no token or a bad one (WWW-Authenticate says why)"),
        Forbidden: errorResponse("the token may not read this"),
        NotFound: errorResponse("not found (also another tenant's)"),
        TooManyRequests: {
          description:
            "a fair-sharing limit refused the request at once (requests in progress per tenant, per token subject or in total; live feeds per tenant or in total; requests per minute per tenant): the message names it; retry after Retry-After seconds",
          headers: {
            "Retry-After": retryAfter(
              "seconds to wait: 1 for requests in progress, 10 for live feeds, the rest of the minute for the rate",
              true,
            ),
          },
          content: { "application/json": { schema: ref("TooManyRequests") } },
        },
        QueryStopped: {
          description:
            "the heavy query was interrupted: by its time budget (query_budget_exceeded) or by shutdown (shutting_down). An export already streaming is aborted instead.",
          headers: {
            "Retry-After": retryAfter("with shutting_down: seconds before retrying", false),
          },
          content: { "application/json": { schema: ref("QueryStopped") } },
        },
      },
      schemas: {
        SessionEndItem: jsonSchema(SessionEndItemSchema, RESPONSE_CONVERSION),
        SessionEndPage: jsonSchema(SessionEndPageSchema, RESPONSE_CONVERSION),
        StatsAnswer: jsonSchema(StatsAnswerSchema, RESPONSE_CONVERSION),
        FeedPage: jsonSchema(FeedPageSchema, RESPONSE_CONVERSION),
        DeadLetterPage: jsonSchema(DeadLetterPageSchema, RESPONSE_CONVERSION),
        ReplayAnswer: jsonSchema(ReplayAnswerSchema, RESPONSE_CONVERSION),
        Error: jsonSchema(ErrorBodySchema, RESPONSE_CONVERSION),
        TooManyRequests: jsonSchema(TooManyRequestsBodySchema, RESPONSE_CONVERSION),
        QueryStopped: jsonSchema(QueryStoppedBodySchema, RESPONSE_CONVERSION),
        Health: jsonSchema(HealthSchema, RESPONSE_CONVERSION),
        Ready: jsonSchema(ReadySchema, RESPONSE_CONVERSION),
      },
    },
  };
}

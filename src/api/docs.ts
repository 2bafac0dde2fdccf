/**
 * `GET /openapi.json` and `GET /docs`: the OpenAPI document, and a
 * self-contained HTML page rendered from it on the server (no script, no
 * CDN, inline styles only), so it works offline and under a strict
 * Content-Security-Policy.
 *
 * @module
 */
import { Hono, type MiddlewareHandler } from "hono";
import { type JsonObject, openApiDocument } from "./openapi.ts";

/** The Content-Security-Policy of the docs page: its inline styles, nothing else. */
export const DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

const STYLE =
  `body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:0}code,.path{font-family:ui-monospace,monospace}
section{border:1px solid #ccc;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}
.method{display:inline-block;min-width:3.5rem;font-weight:bold;text-transform:uppercase}
.get{color:#06c}.post{color:#080}table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #eee;text-align:left;padding:.25rem .5rem;vertical-align:top}
details pre{background:#f6f6f6;padding:.5rem;overflow:auto}`;

function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

function schemaText(schema: unknown): string {
  if (typeof schema !== "object" || schema === null) return "";
  const s = schema as JsonObject;
  if (typeof s.$ref === "string") return s.$ref.split("/").pop() ?? "";
  const parts = [s.type ?? (s.const !== undefined ? JSON.stringify(s.const) : "")];
  if (s.format) parts.push(`(${s.format})`);
  if (s.enum) parts.push(`one of ${(s.enum as unknown[]).join(", ")}`);
  if (s.pattern) parts.push(`pattern ${s.pattern}`);
  if (s.default !== undefined) parts.push(`default ${s.default}`);
  return parts.filter(Boolean).join(" ");
}

function renderOperation(path: string, method: string, op: JsonObject): string {
  const params = (op.parameters ?? []) as JsonObject[];
  const responses = (op.responses ?? {}) as Record<string, JsonObject>;
  const rows = params.map((p) =>
    `<tr><td><code>${escapeHtml(String(p.name))}</code></td><td>${escapeHtml(String(p.in))}${
      p.required ? ", required" : ""
    }</td><td><code>${escapeHtml(schemaText(p.schema))}</code></td><td>${
      escapeHtml(String(p.description ?? ""))
    }</td></tr>`
  ).join("");
  const answers = Object.entries(responses).map(([status, r]) => {
    const ref = typeof r.$ref === "string" ? r.$ref.split("/").pop() : undefined;
    const content = Object.entries((r.content ?? {}) as Record<string, JsonObject>)
      .map(([type, media]) =>
        `<code>${escapeHtml(type)}</code> ${escapeHtml(schemaText(media.schema))}`
      )
      .join("; ");
    return `<tr><td>${escapeHtml(status)}</td><td>${
      escapeHtml(String(r.description ?? ref ?? ""))
    }</td><td>${content}</td></tr>`;
  }).join("");
  const secured = Array.isArray(op.security) && op.security.length > 0;
  return `<section id="${
    escapeHtml(`${method}-${path}`)
  }"><h3><span class="method ${method}">${method}</span> <span class="path">${
    escapeHtml(path)
  }</span></h3><p>${escapeHtml(String(op.summary ?? ""))}${
    secured ? " — <em>bearer token</em>" : ""
  }</p>${
    rows
      ? `<table><tr><th>parameter</th><th>in</th><th>schema</th><th>meaning</th></tr>${rows}</table>`
      : ""
  }<table><tr><th>status</th><th>answer</th><th>content</th></tr>${answers}</table></section>`;
}

/** Renders the OpenAPI document as a self-contained HTML page. */
export function renderDocs(doc: JsonObject): string {
  const info = doc.info as JsonObject;
  const paths = doc.paths as Record<string, Record<string, JsonObject>>;
  const operations = Object.entries(paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => renderOperation(path, method, op))
  ).join("\n");
  const tokenModes = Object.entries(
    ((doc.components as JsonObject).securitySchemes ?? {}) as Record<string, JsonObject>,
  ).map(([name, scheme]) =>
    `<tr><td><code>${escapeHtml(name)}</code></td><td>${
      escapeHtml(String(scheme.description ?? ""))
    }</td></tr>`
  ).join("");
  const schemas = Object.entries(
    ((doc.components as JsonObject).schemas ?? {}) as Record<string, JsonObject>,
  ).map(([name, schema]) =>
    `<details id="schema-${escapeHtml(name)}"><summary><code>${
      escapeHtml(name)
    }</code></summary><pre>${escapeHtml(JSON.stringify(schema, null, 2))}</pre></details>`
  ).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(String(info.title))} API</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(String(info.title))} API</h1>
<p>OpenAPI ${escapeHtml(String(doc.openapi))}, version ${escapeHtml(String(info.version))}. ${
    escapeHtml(String(info.description ?? ""))
  } The machine-readable document is <a href="/openapi.json">/openapi.json</a>.</p>
<h2>Bearer tokens</h2>
<table><tr><th>mode</th><th>what it is</th></tr>${tokenModes}</table>
${operations}
<h2>Schemas</h2>
${schemas}
</body></html>
`;
}

/**
 * Middleware for `/docs`, registered before the secure-headers middleware so
 * that its policy (inline styles allowed) replaces the API's `default-src 'none'`.
 */
export function docsContentSecurityPolicy(): MiddlewareHandler {
  return async function docsCsp(c, next) {
    await next();
    c.res.headers.set("Content-Security-Policy", DOCS_CSP);
  };
}

/** `GET /openapi.json` and `GET /docs`. */
export function docsRoutes(): Hono {
  const doc = openApiDocument();
  const html = renderDocs(doc);
  const app = new Hono();
  app.get("/openapi.json", (c) => c.json(doc));
  app.get("/docs", (c) => c.html(html));
  return app;
}

/**
 * The API's error answers: one JSON shape, `{ "error": { code, message, param } }`,
 * carried by an `HTTPException` so a handler throws it and never builds the
 * body twice.
 *
 * @module
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The body of every error answer. */
export interface ErrorBody {
  error: {
    /** Machine-readable kind: `invalid_parameter`, `unauthorized`, `not_found`, … */
    code: string;
    /** A sentence for a human. */
    message: string;
    /** The query or path parameter at fault, or null. */
    param: string | null;
  };
}

/** Options of {@linkcode apiError}. */
export interface ApiErrorOptions {
  /**
   * The parameter at fault.
   * @default null
   */
  param?: string | null;
  /**
   * Extra response headers (`WWW-Authenticate`, …).
   * @default {}
   */
  headers?: Record<string, string>;
}

/** Builds an `HTTPException` whose response is the JSON error body. */
export function apiError(
  status: ContentfulStatusCode,
  code: string,
  message: string,
  options: ApiErrorOptions = {},
): HTTPException {
  const body: ErrorBody = {
    error: { code, message, param: options.param ?? null },
  };
  const res = new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/json; charset=UTF-8",
      ...options.headers,
    },
  });
  return new HTTPException(status, { message, res });
}

/** A 400 naming the query or path parameter at fault. */
export function invalidParameter(
  param: string,
  message: string,
): HTTPException {
  return apiError(400, "invalid_parameter", message, { param });
}

/** A 404 that says nothing about whether the thing exists elsewhere. */
export function notFound(message = "not found"): HTTPException {
  return apiError(404, "not_found", message);
}

function respond(c: Context, err: HTTPException): Response {
  const res = err.getResponse();
  // Through the context, so headers set earlier (X-Request-Id) are kept.
  return c.newResponse(res.body, res);
}

/** Options of {@linkcode errorHandler}. */
export interface ErrorHandlerOptions {
  /** Called with every unexpected error, for the log. */
  report: (err: Error, c: Context) => void;
}

/**
 * `app.onError`: an `HTTPException` becomes its own response (a plain one is
 * wrapped in the JSON shape); anything else is a JSON 500 without details.
 */
export function errorHandler(options: ErrorHandlerOptions): ErrorHandler {
  return function apiErrorHandler(err, c) {
    if (err instanceof HTTPException) {
      if (err.res) return respond(c, err);
      const status = err.status as ContentfulStatusCode;
      return respond(
        c,
        apiError(status, status >= 500 ? "internal" : "error", err.message),
      );
    }
    options.report(err, c);
    return respond(c, apiError(500, "internal", "internal error"));
  };
}

/** `app.notFound`: a JSON 404 for any unknown route. */
export const notFoundHandler: NotFoundHandler = function unknownRoute(c) {
  return respond(c, notFound(`no route for ${c.req.method} ${c.req.path}`));
};

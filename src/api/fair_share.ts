/**
 * Fair sharing of the read API (the policy; hono-rate-limiter does the
 * counting of the rate limit): requests in progress per tenant, per token
 * subject and in total, live feeds per tenant and in total, and requests
 * per minute per tenant. Whatever goes beyond is refused at once with 429,
 * `Retry-After` and the API's error shape, and counted in `/metrics` by the
 * limit that refused it. Administrators count as the pseudo-tenant `*`.
 * What is admitted is told to the {@linkcode Activity} that fair turns ask
 * before a bulk step pauses.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { rateLimiter } from "hono-rate-limiter";
import { type Clock, wallClock } from "../clock.ts";
import type { ApiLimits } from "../config_limits.ts";
import type { Party } from "../fair_turns.ts";
import type { Metrics, RejectionLimit } from "../metrics.ts";
import type { Activity, RequestKind } from "./activity.ts";
import { Admission, type AdmissionLimit } from "./admission.ts";
import type { AuthEnv, AuthScope } from "./auth.ts";
import { apiError } from "./errors.ts";
import { FixedWindowStore } from "./rate_window.ts";

/**
 * How fair sharing counts a request: `live`, a live feed (against the
 * live-feed limits); else as its {@linkcode RequestKind}.
 */
export type RequestClass = "live" | RequestKind;

declare module "hono" {
  interface ContextVariableMap {
    /** Set by {@linkcode classedAs} on the routes it is mounted on; `quiet` when unset. */
    requestClass: RequestClass;
  }
}

/**
 * Middleware that classes the requests of the routes it is mounted on, for
 * {@linkcode fairShare} (mount it before): a class, or a function of the request.
 */
export function classedAs(
  requestClass: RequestClass | ((c: Context) => RequestClass),
): MiddlewareHandler {
  return async function fairShareClass(c, next) {
    c.set("requestClass", typeof requestClass === "function" ? requestClass(c) : requestClass);
    await next();
  };
}

/** Options of {@linkcode fairShare}. */
export interface FairShareOptions {
  limits: ApiLimits;
  /** Counts refusals and what is in progress. */
  metrics: Metrics;
  /** Counts the requests in progress (live feeds apart) against `limits`; see {@linkcode requestAdmission}. */
  requests: Admission;
  /** Told of every request admitted (live feeds apart), by tenant and kind. */
  activity: Activity;
  /**
   * The clock of the rate limit's one-minute windows.
   * @default wallClock
   */
  clock?: Clock;
}

/** The tenant a caller counts under: its own, or `*` for an administrator. */
export function tenantKey(scope: AuthScope): string {
  return scope.kind === "admin" ? "*" : scope.tenantId;
}

/**
 * The party a caller's bulk work takes turns as: its tenant, contended when
 * `activity` sees anyone else (never, without one).
 */
export function partyOf(scope: AuthScope, activity?: Activity): Party {
  const key = tenantKey(scope);
  return activity ? activity.party(key) : { key };
}

/**
 * The place a request's token subject (`sub`, from the verified claims)
 * counts under, within its tenant: the same `sub` in two tenants is two
 * subjects.
 */
export function subjectKey(scope: AuthScope): string | undefined {
  return scope.subject === undefined ? undefined : `${tenantKey(scope)} ${scope.subject}`;
}

const REQUEST_LIMIT: Record<AdmissionLimit, RejectionLimit> = {
  total: "concurrent",
  tenant: "concurrent_per_tenant",
  subject: "concurrent_per_subject",
};
const FEED_LIMIT: Record<AdmissionLimit, RejectionLimit> = {
  total: "live_feeds",
  tenant: "live_feeds_per_tenant",
  subject: "live_feeds_per_tenant", // feeds are not counted by subject
};
const REFUSAL_TEXT: Record<AdmissionLimit, string> = {
  total: "the service has",
  tenant: "this tenant has",
  subject: "this token's subject has",
};

/** A 429 in the API's error shape; counted by `limit`. */
function tooMany(
  metrics: Metrics,
  limit: RejectionLimit,
  message: string,
  retryAfterSeconds: number,
) {
  metrics.add("session_audit_http_rejected_total", 1, { limit });
  return apiError(429, "too_many_requests", message, {
    headers: { "Retry-After": String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  });
}

/**
 * `body` passed through unchanged, calling `release` once when it ends,
 * fails or is cancelled (the client left): a streamed answer holds its
 * place until its last byte.
 */
export function releasingAtEnd(
  body: ReadableStream<Uint8Array>,
  release: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        release();
        controller.error(err);
      }
    },
    async cancel(reason) {
      release();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * A JSON answer is complete when the handler returns; anything else streams.
 * A JSON answer's `body` is never read: reading it turns a string body into
 * a stream, and Deno then sends the response through a stream resource
 * instead of its fast path for a body in memory (bench/README.md).
 */
export function streams(res: Response): boolean {
  const media = (res.headers.get("Content-Type") ?? "").split(";")[0].trim().toLowerCase();
  // `application/json` or a `+json` type; `application/x-ndjson` (an export) streams.
  const json = media === "application/json" || media.endsWith("+json");
  return !json && res.body !== null;
}

/** The admission of requests in progress (live feeds apart) under `limits`. */
export function requestAdmission(limits: ApiLimits): Admission {
  return new Admission({
    total: limits.concurrent,
    perTenant: limits.concurrentPerTenant,
    perSubject: limits.concurrentPerSubject,
  });
}

/**
 * The middlewares of the policy, to mount behind authentication: the rate
 * limit per tenant, then the limits on what is in progress.
 */
export function fairShare(options: FairShareOptions): MiddlewareHandler<AuthEnv>[] {
  const { limits, metrics, requests } = options;
  const feeds = new Admission({ total: limits.liveFeeds, perTenant: limits.liveFeedsPerTenant });
  const gauges = () => {
    metrics.set("session_audit_http_requests_in_flight", requests.total);
    metrics.set("session_audit_live_feeds_open", feeds.total);
  };
  gauges();

  const inProgress: MiddlewareHandler<AuthEnv> = async function fairShareInProgress(c, next) {
    const requestClass = c.get("requestClass") ?? "quiet";
    const live = requestClass === "live";
    const tenant = tenantKey(c.get("auth"));
    const entry = live
      ? feeds.tryEnter(tenant)
      : requests.tryEnter(tenant, subjectKey(c.get("auth")));
    if (!entry.admitted) {
      const what = live ? "live feeds open" : "requests in progress";
      throw tooMany(
        metrics,
        (live ? FEED_LIMIT : REQUEST_LIMIT)[entry.limit],
        `${REFUSAL_TEXT[entry.limit]} ${entry.ceiling} ${what}, the most allowed: retry later`,
        live ? 10 : 1,
      );
    }
    gauges();
    const active = live
      ? () => {}
      : options.activity.enter(tenant, requestClass === "bulk" ? "bulk" : "quiet");
    const leave = () => {
      entry.leave();
      active();
      gauges();
    };
    try {
      await next();
    } catch (err) {
      leave();
      throw err;
    }
    if (streams(c.res)) {
      c.res = new Response(releasingAtEnd(c.res.body!, leave), c.res);
    } else {
      leave();
    }
  };

  if (limits.ratePerTenantPerMinute === 0) return [inProgress];
  const windowMs = 60_000;
  const store = new FixedWindowStore(windowMs, options.clock ?? wallClock);
  const key = (c: Context<AuthEnv>) => tenantKey(c.get("auth"));
  const perMinute = rateLimiter<AuthEnv>({
    windowMs,
    limit: limits.ratePerTenantPerMinute,
    standardHeaders: false,
    keyGenerator: key,
    store,
    handler: (c) => {
      throw tooMany(
        metrics,
        "rate_per_tenant",
        `this tenant made more than ${limits.ratePerTenantPerMinute} requests this minute: retry later`,
        store.secondsToReset(key(c)),
      );
    },
  });
  return [perMinute, inProgress];
}

/**
 * The versioned read API under `/v1`: bearer-token authentication in front
 * of the session-end, dead-letter and integrity routes. Without a key
 * source (a secret or an identity provider's key set) every route answers 401.
 *
 * @module
 */
import { Hono } from "hono";
import type { Clock, Timers } from "../clock.ts";
import type { ApiLimits } from "../config_limits.ts";
import type { Keyring } from "../integrity/keyring.ts";
import type { CheckpointCopy } from "../integrity/verify.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Database } from "../store/client.ts";
import type { StoredSignal } from "../store/stored_signal.ts";
import { type AuthEnv, bearerJwt } from "./auth.ts";
import type { ClaimPolicy } from "./claims.ts";
import { CursorCodec } from "./cursor.ts";
import { deadLetterRoutes, deadLettersAdminOnly } from "./dead_letters.ts";
import { exportRoutes } from "./export.ts";
import { Activity } from "./activity.ts";
import type { Admission } from "./admission.ts";
import { classedAs, fairShare, requestAdmission } from "./fair_share.ts";
import { feedRoutes, wantsLiveFeed } from "./feed.ts";
import { integrityRoutes } from "./integrity.ts";
import { malformedPathParameter } from "./path_params.ts";
import { PositionTokenCodec } from "./position_token.ts";
import type { QueryBudget } from "./query_budget.ts";
import { FairTurns } from "../fair_turns.ts";
import { sessionEndRoutes } from "./session_ends.ts";
import { statsRoutes } from "./stats.ts";
import type { TokenVerifier } from "./token_verifier.ts";

/** Contended bulk work (export encoding, live-feed batches, integrity hashing) pauses 3× its time. */
const BULK_PAUSE_FACTOR = 3;
/** The routes whose work takes turns (live feeds apart): their requests are bulk, not quiet. */
const BULK_ROUTES = ["/session-ends/export", "/session-ends/stats", "/integrity"];

/** Options of {@linkcode v1Routes}. */
export interface V1RoutesOptions {
  /** Signs cursors and feed tokens (`API_CURSOR_SECRET`, else `API_JWT_SECRET`). */
  secret: string | undefined;
  /** Verifies bearer tokens; one that accepts nothing makes every route a 401. */
  tokens: TokenVerifier;
  /** Which roles read every tenant and which may read at all. */
  claims: ClaimPolicy;
  /** The database the routes read (and a dead-letter replay writes). */
  db: Database;
  /** Where the live feed reports a database failure that ended a stream. */
  logger: Logger;
  /** Told by the ingest loop after each commit that stored rows; wakes live feeds. */
  stored?: StoredSignal;
  /** Aborted at process shutdown: ends live feeds so the server can stop. */
  shutdown?: AbortSignal;
  /** Live-feed timing (tests change it). */
  feed?: { pollMs?: number; heartbeatMs?: number };
  /** Verifies the signatures of chain checkpoints in `/v1/integrity`. */
  keyring?: Keyring;
  /** The independent copy of the checkpoints, compared by `/v1/integrity` when it can be read. */
  checkpointCopy?: CheckpointCopy;
  /** `CLOCK_SKEW_SECONDS` in ms: a dead letter replayed is decoded as ingest decodes. */
  skewMs?: number;
  /** Fair sharing: what one tenant, one subject and everyone may take (src/api/fair_share.ts). */
  limits: ApiLimits;
  /** Counts refusals and what is in progress. */
  metrics: Metrics;
  /** Aborted when long responses (exports, integrity walks, heavy queries) must end at shutdown. */
  cutoff?: AbortSignal;
  /**
   * The time of query budgets and of live feeds' polls and heartbeats.
   * @default systemTimers
   */
  timers?: Timers;
  /**
   * The wall clock of dead-letter replays.
   * @default wallClock
   */
  clock?: Clock;
  /**
   * Makes the record of who is using the read API, which fair turns ask
   * before pausing, from the admission of requests in progress.
   * @default a new one on `timers`
   */
  activity?: (requests: Admission) => Activity;
}

/** Routes mounted under `/v1`. */
export function v1Routes(options: V1RoutesOptions): Hono<AuthEnv> {
  const { secret, db, stored } = options;
  const app = new Hono<AuthEnv>();
  app.use("*", bearerJwt({ tokens: options.tokens, claims: options.claims }));
  if (secret === undefined || !options.tokens.acceptsAny) return app;
  const { limits, metrics } = options;
  // Who else is active: a tenant's bulk work pauses between its steps only when someone is.
  const requests = requestAdmission(limits);
  const activity = options.activity?.(requests) ??
    new Activity({ clock: options.timers, requests });
  // Classed by the router that serves them; every other request is quiet.
  for (const path of BULK_ROUTES) app.use(path, classedAs("bulk"));
  app.use("/session-ends/feed", classedAs((c) => wantsLiveFeed(c) ? "live" : "quiet"));
  app.use("*", ...fairShare({ limits, metrics, requests, activity }));
  const budget: QueryBudget = {
    budgetMs: limits.queryBudgetMs,
    cutoff: options.cutoff,
    timers: options.timers,
    onExceeded: () =>
      metrics.add("session_audit_http_rejected_total", 1, { limit: "query_budget" }),
  };
  // Path parameters are constrained to their patterns, so the order of these mounts does not matter.
  // One step of bulk work at a time on the JavaScript thread, tenants in rotation; under
  // contention at most a quarter of the thread's time: the rest stays with small requests.
  const turns = new FairTurns({ pauseFactor: BULK_PAUSE_FACTOR });
  app.route("/session-ends", sessionEndRoutes({ db, cursors: new CursorCodec(secret) }));
  app.route("/session-ends", exportRoutes({ db, budget, turns, activity }));
  app.route("/session-ends", statsRoutes({ db, budget, activity }));
  app.route(
    "/session-ends",
    feedRoutes({
      db,
      tokens: new PositionTokenCodec(secret, "feed"),
      stored,
      shutdown: options.shutdown,
      turns,
      activity,
      timers: options.timers,
      pollMs: options.feed?.pollMs,
      heartbeatMs: options.feed?.heartbeatMs,
      onError: (error) => options.logger.warn("live feed ended: the database failed", { error }),
    }),
  );
  app.route(
    "/dead-letters",
    deadLetterRoutes({
      db,
      cursors: new PositionTokenCodec(secret, "dead-letters"),
      stored,
      skewMs: options.skewMs,
      clock: options.clock,
    }),
  );
  app.route(
    "/integrity",
    integrityRoutes({
      db,
      keyring: options.keyring,
      copy: options.checkpointCopy,
      budget,
      turns,
      activity,
    }),
  );
  // Last: a path id that no route's pattern took is a 400 naming it (a deeper path stays a 404).
  app.get("/session-ends/:session_id", malformedPathParameter("session_id", "must be a UUID"));
  app.post(
    "/dead-letters/:id/replay",
    deadLettersAdminOnly,
    malformedPathParameter("id", "must be a positive integer"),
  );
  return app;
}

/**
 * The versioned read API under `/v1`: bearer-token authentication in front
 * of the session-end routes. Without `API_JWT_SECRET` every route answers 401.
 *
 * @module
 */
import { Hono } from "hono";
import type { AppDeps } from "./app.ts";
import { type AuthEnv, bearerJwt } from "./auth.ts";
import { CursorCodec } from "./cursor.ts";
import { deadLetterRoutes } from "./dead_letters.ts";
import { exportRoutes } from "./export.ts";
import { feedRoutes } from "./feed.ts";
import { PositionTokenCodec } from "./position_token.ts";
import { statsRoutes } from "./stats.ts";
import { integrityRoutes } from "./integrity.ts";
import { sessionEndRoutes } from "./session_ends.ts";

/** Routes mounted under `/v1`. */
export function v1Routes({ config, db, signer, stored, shutdown, feed }: AppDeps): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.use("*", bearerJwt({ secret: config.apiJwtSecret }));
  if (config.apiJwtSecret !== undefined) {
    // Before sessionEndRoutes: its `/:session_id` would take (and 400) these names.
    app.route("/session-ends", exportRoutes({ db }));
    app.route("/session-ends", statsRoutes({ db }));
    app.route(
      "/session-ends",
      feedRoutes({
        db,
        tokens: new PositionTokenCodec(config.apiJwtSecret, "feed"),
        stored,
        shutdown,
        pollMs: feed?.pollMs,
        heartbeatMs: feed?.heartbeatMs,
      }),
    );
    app.route(
      "/dead-letters",
      deadLetterRoutes({
        db,
        cursors: new PositionTokenCodec(config.apiJwtSecret, "dead-letters"),
        stored,
      }),
    );
    app.route(
      "/session-ends",
      sessionEndRoutes({ db, cursors: new CursorCodec(config.apiJwtSecret) }),
    );
    app.route("/integrity", integrityRoutes({ db, signer }));
  }
  return app;
}

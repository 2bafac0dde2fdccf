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
import { sessionEndRoutes } from "./session_ends.ts";

/** Routes mounted under `/v1`. */
export function v1Routes({ config, db }: AppDeps): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.use("*", bearerJwt({ secret: config.apiJwtSecret }));
  if (config.apiJwtSecret !== undefined) {
    app.route(
      "/session-ends",
      sessionEndRoutes({ db, cursors: new CursorCodec(config.apiJwtSecret) }),
    );
  }
  return app;
}

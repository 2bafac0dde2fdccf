/**
 * `GET /v1/dead-letters` and `POST /v1/dead-letters/{id}/replay`: the
 * quarantined messages, for administrators only, and their re-validation
 * with today's rules (what a replay does to the row: `store/dead_letters.ts`).
 *
 * @module
 */
import { Hono } from "hono";
import { type Clock, wallClock } from "../clock.ts";
import { formatRfc3339 } from "../rfc3339.ts";
import type { Database } from "../store/client.ts";
import {
  type DeadLetterRow,
  listDeadLettersSql,
  replayDeadLetter,
  type ReplayKind,
  toDeadLetter,
} from "../store/dead_letters.ts";
import { getSessionEndSql, type SessionEndItem, toItem } from "../store/queries.ts";
import type { StoredSignal } from "../store/stored_signal.ts";
import { adminOnly, type AuthEnv } from "./auth.ts";
import { apiError, invalidParameter, notFound } from "./errors.ts";
import { DEAD_LETTER_ID_PARAM } from "./path_params.ts";
import type { PositionTokenCodec } from "./position_token.ts";
import { EmptyQuerySchema, parseDeadLetterListQuery, parseQuery } from "./query.ts";
import { PRIVATE, searchParams, valid } from "./request.ts";

/** One dead letter as the API returns it. */
export interface DeadLetterItem {
  id: number;
  stream: string;
  stream_seq: number;
  subject: string;
  /** The validation message (today's, after a failed replay). */
  reason: string;
  /** The message body, verbatim: as text when it is valid UTF-8, otherwise base64. */
  payload: string;
  payload_encoding: "utf8" | "base64";
  received_at: string;
  quarantined_at: string;
  replayed_at: string | null;
  replay_outcome: ReplayKind | null;
}

/** The dead-letter list answer. */
export interface DeadLetterPage {
  items: DeadLetterItem[];
  next_cursor: string | null;
}

/** A successful replay: the row it stored or corrected, or the session it duplicated. */
export type ReplayAnswer =
  | { status: "stored" | "corrected"; item: SessionEndItem }
  | { status: "duplicate"; session_id: string };

/** What the cursor of the dead-letter list is bound to. */
export const DEAD_LETTER_BINDING = "dead-letters";

const utf8 = new TextDecoder("utf-8", { fatal: true });

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Maps a stored dead letter to the API item. */
export function toDeadLetterItem(letter: DeadLetterRow): DeadLetterItem {
  let payload: string;
  let encoding: DeadLetterItem["payload_encoding"];
  try {
    payload = utf8.decode(letter.payload);
    encoding = "utf8";
  } catch {
    payload = base64(letter.payload);
    encoding = "base64";
  }
  return {
    id: letter.id,
    stream: letter.stream,
    stream_seq: letter.streamSeq,
    subject: letter.subject,
    reason: letter.error,
    payload,
    payload_encoding: encoding,
    received_at: formatRfc3339(letter.receivedAt),
    quarantined_at: formatRfc3339(letter.quarantinedAt),
    replayed_at: letter.replayedAt === null ? null : formatRfc3339(letter.replayedAt),
    replay_outcome: letter.replayOutcome,
  };
}

/** Refuses a tenant token with 403: dead letters may belong to any tenant, or to none. */
export const deadLettersAdminOnly = adminOnly("dead letters are for administrators (role: admin)");

/** Options of {@linkcode deadLetterRoutes}. */
export interface DeadLetterRoutesOptions {
  db: Database;
  /** Signs and checks the list's cursor. */
  cursors: PositionTokenCodec;
  /** Told when a replay stores a row, so live feeds push it at once. */
  stored?: StoredSignal;
  /** `CLOCK_SKEW_SECONDS` in ms, as ingest decodes with. */
  skewMs?: number;
  /**
   * The wall clock (epoch ms) of a replay: its `replayed_at`, and the time
   * its event is decoded at.
   * @default wallClock
   */
  clock?: Clock;
}

/**
 * `GET /` and `POST /{id}/replay` (a positive integer: other segments are
 * left to the routes mounted beside it), relative to where they are mounted.
 */
export function deadLetterRoutes(
  { db, cursors, stored, skewMs, clock = wallClock }: DeadLetterRoutesOptions,
): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();

  app.get("/", deadLettersAdminOnly, async (c) => {
    const query = valid(parseDeadLetterListQuery(searchParams(c)));
    let beforeId: number | undefined;
    if (query.cursor !== undefined) {
      beforeId = cursors.decode(query.cursor, DEAD_LETTER_BINDING);
      if (beforeId === undefined) {
        throw invalidParameter("cursor", "cursor is not valid: pass back a next_cursor unchanged");
      }
    }
    const rs = await db.execute(listDeadLettersSql(query.limit, beforeId));
    const rows = rs.rows.slice(0, query.limit).map(toDeadLetter);
    const next = rs.rows.length > query.limit
      ? cursors.encode(rows[rows.length - 1].id, DEAD_LETTER_BINDING)
      : null;
    const page: DeadLetterPage = { items: rows.map(toDeadLetterItem), next_cursor: next };
    return c.json(page, 200, PRIVATE);
  });

  app.post(`/${DEAD_LETTER_ID_PARAM}/replay`, deadLettersAdminOnly, async (c) => {
    valid(parseQuery(EmptyQuerySchema, searchParams(c)));
    // The route's pattern admits only positive integers of at most 15 digits.
    const outcome = await replayDeadLetter(db, Number(c.req.param("id")), clock.now(), skewMs);
    switch (outcome.kind) {
      case "not_found":
        throw notFound("no dead letter with this id");
      case "already_replayed":
        throw apiError(
          409,
          "already_replayed",
          `this dead letter was replayed at ${
            formatRfc3339(outcome.replayedAt)
          } (${outcome.outcome})`,
        );
      case "invalid":
        throw apiError(422, "invalid_event", outcome.reason);
      case "duplicate": {
        const answer: ReplayAnswer = { status: "duplicate", session_id: outcome.sessionId };
        return c.json(answer, 200);
      }
      case "stored":
      case "corrected": {
        stored?.notify();
        const rs = await db.execute(getSessionEndSql(outcome.sessionId));
        const answer: ReplayAnswer = { status: outcome.kind, item: toItem(rs.rows[0]) };
        return c.json(answer, 200);
      }
    }
  });

  return app;
}

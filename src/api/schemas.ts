/**
 * The answers of the API as valibot schemas: the source of the response
 * schemas in `GET /openapi.json`, and what the tests check real answers
 * against, so the document cannot drift from the code.
 *
 * @module
 */
import * as v from "valibot";

const uuid = v.pipe(v.string(), v.uuid());
const time = v.pipe(v.string(), v.isoTimestamp());
const count = v.pipe(v.number(), v.integer(), v.minValue(0));

const position = v.pipe(v.number(), v.integer(), v.minValue(1));

/** An unusable raw value of an event, kept on its row (SPEC §2.3). */
export const AnomalySchema = v.strictObject({
  field: v.pipe(
    v.string(),
    v.description("user_id, start_time, end_time, source_ip or reason"),
  ),
  value: v.pipe(
    v.string(),
    v.description("the raw value as sent (the JSON text of a value that is not a string)"),
  ),
  problem: v.pipe(v.string(), v.description("why it is unusable, or why it is flagged")),
});

/** One session end (SPEC §4). */
export const SessionEndItemSchema = v.strictObject({
  session_id: uuid,
  tenant_id: uuid,
  device_id: uuid,
  user_id: v.nullable(uuid),
  action: v.literal("ssh_session_end"),
  start_time: v.nullable(time),
  end_time: v.nullable(time),
  duration_seconds: v.nullable(count),
  source_ip: v.nullable(v.string()),
  source_port: v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535))),
  reason: v.nullable(v.string()),
  recorded_at: time,
  anomalies: v.array(AnomalySchema),
  stream_seq: count,
  chain_version: v.picklist([1, 2]),
  chain_seq: v.nullable(position),
  chain_hash: v.nullable(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))),
  corrects: v.nullable(position),
  corrected_by: v.nullable(position),
});

/** `GET /v1/session-ends`. */
export const SessionEndPageSchema = v.strictObject({
  items: v.array(SessionEndItemSchema),
  next_cursor: v.nullable(v.string()),
});

/** One group of `GET /v1/session-ends/stats`. */
export const StatsGroupSchema = v.strictObject({
  key: v.nullable(v.string()),
  sessions: count,
  sessions_with_duration: count,
  total_duration_seconds: count,
  avg_duration_seconds: v.nullable(v.pipe(v.number(), v.minValue(0))),
  max_duration_seconds: v.nullable(count),
});

/** `GET /v1/session-ends/stats`. */
export const StatsAnswerSchema = v.strictObject({
  group_by: v.picklist(["device_id", "user_id", "reason", "day"]),
  groups: v.array(StatsGroupSchema),
  truncated: v.boolean(),
});

/** `GET /v1/session-ends/feed` (JSON). */
export const FeedPageSchema = v.strictObject({
  items: v.array(SessionEndItemSchema),
  next: v.string(),
});

/** One quarantined message. */
export const DeadLetterItemSchema = v.strictObject({
  id: v.pipe(v.number(), v.integer(), v.minValue(1)),
  stream: v.string(),
  stream_seq: count,
  subject: v.string(),
  reason: v.string(),
  payload: v.string(),
  payload_encoding: v.picklist(["utf8", "base64"]),
  received_at: time,
  quarantined_at: time,
  replayed_at: v.nullable(time),
  replay_outcome: v.nullable(v.picklist(["stored", "corrected", "duplicate"])),
});

/** `GET /v1/dead-letters`. */
export const DeadLetterPageSchema = v.strictObject({
  items: v.array(DeadLetterItemSchema),
  next_cursor: v.nullable(v.string()),
});

/** `POST /v1/dead-letters/{id}/replay`, 200. */
export const ReplayAnswerSchema = v.union([
  v.strictObject({ status: v.picklist(["stored", "corrected"]), item: SessionEndItemSchema }),
  v.strictObject({ status: v.literal("duplicate"), session_id: uuid }),
]);

/** Every error answer. */
export const ErrorBodySchema = v.strictObject({
  error: v.strictObject({
    code: v.string(),
    message: v.string(),
    param: v.nullable(v.string()),
  }),
});

/** A 429 of a fair-sharing limit (src/api/fair_share.ts); its message names the limit. */
export const TooManyRequestsBodySchema = v.strictObject({
  error: v.strictObject({
    code: v.literal("too_many_requests"),
    message: v.string(),
    param: v.null(),
  }),
});

/**
 * A 503 of a heavy query (stats, an export's first page, an integrity
 * walk) stopped by its time budget or by shutdown (src/api/query_budget.ts).
 */
export const QueryStoppedBodySchema = v.strictObject({
  error: v.strictObject({
    code: v.pipe(
      v.picklist(["query_budget_exceeded", "shutting_down"]),
      v.description(
        "query_budget_exceeded: it ran longer than API_QUERY_BUDGET_MS and was interrupted (narrow it rather than retry it as it is); shutting_down: the service is stopping (retry after Retry-After, on another instance)",
      ),
    ),
    message: v.string(),
    param: v.null(),
  }),
});

/** `GET /healthz`. */
export const HealthSchema = v.strictObject({ status: v.literal("ok") });

/** `GET /readyz`. */
export const ReadySchema = v.union([
  v.strictObject({ status: v.literal("ready") }),
  v.strictObject({
    status: v.literal("not_ready"),
    reasons: v.record(v.string(), v.string()),
  }),
]);

/**
 * `GET /v1/session-ends/export`: every row matching the list filters as CSV
 * or NDJSON, streamed with constant memory. Rows are read in keyset chunks
 * (the list's own query and order, newest first) only when the client has
 * taken the previous chunk, so a slow reader holds back the database reads
 * instead of filling memory.
 *
 * @module
 */
import { Hono } from "hono";
import type { Database } from "../store/client.ts";
import {
  type ListFilter,
  listSessionEndsSql,
  type SessionEndItem,
  type SortKey,
  sortKeyOf,
  toItem,
} from "../store/queries.ts";
import type { AuthEnv } from "./auth.ts";
import { csvRecord } from "./csv.ts";
import { type ExportFormat, parseExportQuery } from "./query.ts";
import { listFilter, PRIVATE, searchParams, valid } from "./request.ts";

/** Rows read per query by default. */
export const EXPORT_CHUNK = 1_000;

/** The CSV columns: the item's fields, in the item's order. */
export const CSV_COLUMNS = [
  "session_id",
  "tenant_id",
  "device_id",
  "user_id",
  "action",
  "start_time",
  "end_time",
  "duration_seconds",
  "source_ip",
  "source_port",
  "reason",
  "recorded_at",
  "anomalies",
  "stream_seq",
  "chain_version",
  "chain_seq",
  "chain_hash",
  "corrects",
  "corrected_by",
] as const satisfies readonly (keyof SessionEndItem)[];

const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8; header=present",
  ndjson: "application/x-ndjson; charset=utf-8",
};

/** Options of {@linkcode exportStream}. */
export interface ExportStreamOptions {
  /**
   * Rows per query.
   * @default {1000}
   */
  chunkSize?: number;
}

/** A field of `item` as a CSV cell: anomalies as their JSON text (empty when none). */
function csvValue(item: SessionEndItem, column: typeof CSV_COLUMNS[number]) {
  if (column !== "anomalies") return item[column];
  return item.anomalies.length === 0 ? null : JSON.stringify(item.anomalies);
}

function encodeItems(items: SessionEndItem[], format: ExportFormat): string {
  if (format === "ndjson") return items.map((item) => JSON.stringify(item) + "\n").join("");
  return items.map((item) => csvRecord(CSV_COLUMNS.map((column) => csvValue(item, column)))).join(
    "",
  );
}

/**
 * The export body: the CSV header row (for CSV), then one chunk per query,
 * each read only when the consumer pulls.
 */
export function exportStream(
  db: Database,
  filter: ListFilter,
  format: ExportFormat,
  options: ExportStreamOptions = {},
): ReadableStream<Uint8Array> {
  const chunkSize = options.chunkSize ?? EXPORT_CHUNK;
  const encoder = new TextEncoder();
  let after: SortKey | undefined;
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (format === "csv") controller.enqueue(encoder.encode(csvRecord(CSV_COLUMNS)));
    },
    async pull(controller) {
      if (done) return;
      const rs = await db.execute(listSessionEndsSql(filter, { limit: chunkSize, after }));
      const rows = rs.rows.slice(0, chunkSize);
      if (rows.length > 0) {
        after = sortKeyOf(rows[rows.length - 1]);
        controller.enqueue(encoder.encode(encodeItems(rows.map(toItem), format)));
      }
      if (rs.rows.length <= chunkSize) {
        done = true;
        controller.close();
      }
    },
  }, { highWaterMark: 1 });
}

/** `20260312T101500Z`: a UTC timestamp fit for a file name. */
export function fileTimestamp(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, "Z").replaceAll("-", "").replaceAll(":", "");
}

/** Options of {@linkcode exportRoutes}. */
export interface ExportRoutesOptions {
  db: Database;
  /**
   * Rows per query.
   * @default {1000}
   */
  chunkSize?: number;
}

/** `GET /export`, relative to where it is mounted. */
export function exportRoutes({ db, chunkSize }: ExportRoutesOptions): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.get("/export", (c) => {
    const query = valid(parseExportQuery(searchParams(c)));
    // The whole record: corrected versions too, each marked with the correction that replaced it.
    const filter = { ...listFilter(c.get("auth"), query), allVersions: true };
    const name = `session-ends-${filter.tenantId ?? "all"}-${
      fileTimestamp(new Date())
    }.${query.format}`;
    return c.body(exportStream(db, filter, query.format, { chunkSize }), 200, {
      "Content-Type": CONTENT_TYPES[query.format],
      "Content-Disposition": `attachment; filename="${name}"`,
      ...PRIVATE,
    });
  });
  return app;
}

/**
 * `GET /v1/session-ends/export`: every row matching the list filters as CSV
 * or NDJSON, streamed with constant memory. Rows are read in keyset chunks
 * (the list's own query and order, newest first) only when the client has
 * taken the previous chunk, so a slow reader holds back the database reads
 * instead of filling memory. Each chunk's query has the time budget of a
 * heavy query; the first is read before the answer starts, so a query
 * over budget is a plain 503. Later, an export cut short (a query over
 * budget, a database error, the process shutting down) ends the transfer
 * abruptly: no terminating chunk, never a body that looks complete.
 *
 * @module
 */
import { Hono } from "hono";
import type { Row } from "@libsql/client";
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
import type { Activity } from "./activity.ts";
import { partyOf } from "./fair_share.ts";
import { type QueryBudget, withinBudget } from "./query_budget.ts";
import type { FairTurns, Party } from "../fair_turns.ts";
import { listFilter, PRIVATE, searchParams, valid } from "./request.ts";

/** Rows read per query by default. */
export const EXPORT_CHUNK = 1_000;
/** Rows encoded in one turn on the JavaScript thread. */
const ENCODE_SLICE = 100;

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

/** Reads the export's pages in list order, one keyset query each. */
export interface ExportPages {
  /** The next page (at most `chunkSize` rows) and whether more follow. */
  next(): Promise<{ rows: Row[]; more: boolean }>;
}

/** Options of {@linkcode exportPages}. */
export interface ExportPagesOptions {
  /**
   * Rows per query.
   * @default {1000}
   */
  chunkSize?: number;
  /** The time budget of each query, and the shutdown cut-off. */
  budget: QueryBudget;
  /** Aborted when the client has gone. */
  client?: AbortSignal;
  /** Who takes turns for the queries at the database reader (the tenant). */
  party?: Party;
}

/** The pages of `filter`'s rows, each read under its own budget. */
export function exportPages(
  db: Database,
  filter: ListFilter,
  options: ExportPagesOptions,
): ExportPages {
  const chunkSize = options.chunkSize ?? EXPORT_CHUNK;
  let after: SortKey | undefined;
  return {
    async next() {
      const rows = await withinBudget(
        options.budget,
        options.client,
        (signal) =>
          db.readInterruptible(
            listSessionEndsSql(filter, { limit: chunkSize, after }),
            signal,
            options.party,
          ),
      );
      const page = rows.slice(0, chunkSize);
      if (page.length > 0) after = sortKeyOf(page[page.length - 1]);
      return { rows: page, more: rows.length > chunkSize };
    },
  };
}

/**
 * The export body: the CSV header row (for CSV), the `first` page, then one
 * page per query, each read only when the consumer pulls and encoded in a
 * `turn` (src/fair_turns.ts). When `cutoff` aborts, or a page cannot be
 * read, the stream fails at once (the HTTP transfer is aborted).
 */
export function exportStream(
  first: { rows: Row[]; more: boolean },
  pages: ExportPages,
  format: ExportFormat,
  cutoff?: AbortSignal,
  turn: (encode: () => Uint8Array) => Promise<Uint8Array> = (encode) => Promise.resolve(encode()),
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let pending: { rows: Row[]; more: boolean } | undefined = first;
  let more = true;
  let stop = () => {};
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (format === "csv") controller.enqueue(encoder.encode(csvRecord(CSV_COLUMNS)));
      // Cut even while the client is not reading: queued chunks are dropped.
      stop = () => controller.error(cutoff?.reason ?? new Error("export cut"));
      cutoff?.addEventListener("abort", stop, { once: true });
    },
    async pull(controller) {
      if (!more) return;
      const page = pending ?? await pages.next();
      pending = undefined;
      // Encoded a slice at a time, each in its own turn, so no turn lasts long.
      for (let i = 0; i < page.rows.length; i += ENCODE_SLICE) {
        const slice = page.rows.slice(i, i + ENCODE_SLICE);
        controller.enqueue(
          await turn(() => encoder.encode(encodeItems(slice.map(toItem), format))),
        );
      }
      if (!page.more) {
        more = false;
        cutoff?.removeEventListener("abort", stop);
        controller.close();
      }
    },
    cancel() {
      more = false;
      cutoff?.removeEventListener("abort", stop);
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
  /** The time budget of each page's query, and the shutdown cut-off. */
  budget: QueryBudget;
  /** Turns for encoding pages, shared by the read API's bulk work. */
  turns: FairTurns;
  /** Who else is active: the turns pause only then. */
  activity?: Activity;
}

/** `GET /export`, relative to where it is mounted. */
export function exportRoutes(
  { db, chunkSize, budget, turns, activity }: ExportRoutesOptions,
): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.get("/export", async (c) => {
    const query = valid(parseExportQuery(searchParams(c)));
    // The whole record: corrected versions too, each marked with the correction that replaced it.
    const filter = { ...listFilter(c.get("auth"), query), allVersions: true };
    const name = `session-ends-${filter.tenantId ?? "all"}-${
      fileTimestamp(new Date())
    }.${query.format}`;
    const party = partyOf(c.get("auth"), activity);
    const pages = exportPages(db, filter, {
      chunkSize,
      budget,
      client: c.req.raw.signal,
      party,
    });
    const first = await pages.next();
    const turn = (encode: () => Uint8Array) => turns.run(party, encode);
    return c.body(exportStream(first, pages, query.format, budget.cutoff, turn), 200, {
      "Content-Type": CONTENT_TYPES[query.format],
      "Content-Disposition": `attachment; filename="${name}"`,
      ...PRIVATE,
    });
  });
  return app;
}

/**
 * Typed reads of one column of a libSQL result row: SQL NULL (or a missing
 * column) as `null`, anything else converted to the wanted type.
 *
 * @module
 */
import type { Row } from "@libsql/client";
import { NO_ANOMALIES } from "../event.ts";
import type { StoredAnomaly } from "../secondary_fields.ts";

/** The column as text (NULL becomes `"null"`: use it for NOT NULL columns). */
export function text(row: Row, column: string): string {
  return String(row[column]);
}

/** The column as text, or `null` for SQL NULL. */
export function nullableText(row: Row, column: string): string | null {
  const value = row[column];
  return value === null || value === undefined ? null : String(value);
}

/** The column as a number, or `null` for SQL NULL. */
export function nullableNumber(row: Row, column: string): number | null {
  const value = row[column];
  return value === null || value === undefined ? null : Number(value);
}

function isAnomaly(value: unknown): value is StoredAnomaly {
  if (typeof value !== "object" || value === null) return false;
  const { field, value: raw, problem } = value as Record<string, unknown>;
  return typeof field === "string" && typeof raw === "string" && typeof problem === "string";
}

/**
 * The column of anomalies (a JSON array of `{field, value, problem}`, or
 * NULL for none). Text that is not such an array, which only a hand edit
 * makes, is read as one anomaly of field `anomalies` holding that text: the
 * API shows it, and the row no longer matches its chain hash.
 */
export function anomalies(row: Row, column: string): readonly StoredAnomaly[] {
  const text = row[column];
  if (text === null || text === undefined) return NO_ANOMALIES;
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(text));
  } catch {
    parsed = undefined;
  }
  if (Array.isArray(parsed) && parsed.every(isAnomaly)) {
    return parsed.map(({ field, value, problem }) => ({ field, value, problem }));
  }
  return [{ field: "anomalies", value: String(text), problem: "not a list of anomalies" }];
}

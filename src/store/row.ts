/**
 * Typed reads of one column of a libSQL result row: SQL NULL (or a missing
 * column) as `null`, anything else converted to the wanted type.
 *
 * @module
 */
import type { Row } from "@libsql/client";

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

/**
 * CSV per RFC 4180 for spreadsheets: CRLF line ends, a field quoted when it
 * holds a comma, quote, CR or LF (quotes doubled inside), and text that a
 * spreadsheet would run as a formula neutralised with a leading `'`.
 *
 * @module
 */

/** First characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/** One cell: null is empty, a number as is, text neutralised then quoted when needed. */
export function csvCell(value: string | number | null): string {
  if (value === null) return "";
  if (typeof value === "number") return String(value);
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One record, CRLF-terminated. */
export function csvRecord(cells: readonly (string | number | null)[]): string {
  return cells.map(csvCell).join(",") + "\r\n";
}

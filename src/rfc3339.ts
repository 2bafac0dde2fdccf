/**
 * Strict RFC 3339 timestamps: parsing that refuses impossible dates
 * (`Date.parse` turns 30 February into 2 March) and formatting in UTC.
 *
 * @module
 */

function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** The number written by the `count` ASCII digits at `at` in `text`, or -1 if one is not a digit. */
function digitsAt(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - 48; // "0"
    if (!(digit >= 0 && digit <= 9)) return -1; // NaN past the end
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Parses an RFC 3339 date-time (`2026-03-12T10:00:00Z`, `…+02:00`, optional
 * fraction of one to nine digits) into milliseconds since the epoch, or
 * `undefined` when the text is not one or names an impossible date or time.
 * Digits past the millisecond are truncated.
 *
 * Read character by character: it runs twice for every event ingested, and
 * a regular expression's match (an array and a dozen strings) cost more
 * than the rest of the event's validation.
 */
export function parseRfc3339(text: string): number | undefined {
  // YYYY-MM-DDTHH:MM:SS, then [.fraction], then Z or ±HH:MM
  if (
    text.length < 20 || text[4] !== "-" || text[7] !== "-" || (text[10] !== "T" &&
      text[10] !== "t") ||
    text[13] !== ":" || text[16] !== ":"
  ) return undefined;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  if (year < 0 || hour < 0 || minute < 0 || second < 0) return undefined;
  if (month < 1 || month > 12) return undefined;
  if (day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let at = 19;
  let millis = 0;
  if (text[at] === ".") {
    const first = ++at;
    while (at < text.length && digitsAt(text, at, 1) >= 0) at++;
    const fraction = at - first;
    if (fraction < 1 || fraction > 9) return undefined;
    const kept = Math.min(fraction, 3);
    millis = digitsAt(text, first, kept) * 10 ** (3 - kept);
  }
  let offsetMinutes = 0;
  const zone = text[at];
  if (zone === "Z" || zone === "z") {
    if (text.length !== at + 1) return undefined;
  } else if (zone === "+" || zone === "-") {
    if (text.length !== at + 6 || text[at + 3] !== ":") return undefined;
    const offsetHours = digitsAt(text, at + 1, 2);
    const offsetMins = digitsAt(text, at + 4, 2);
    if (offsetHours < 0 || offsetMins < 0 || offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (zone === "-" ? -1 : 1) * (offsetHours * 60 + offsetMins);
  } else {
    return undefined;
  }
  let utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  if (year < 100) {
    // Date.UTC maps years 0-99 to 1900-1999; set the full year explicitly.
    const date = new Date(utc);
    date.setUTCFullYear(year, month - 1, day);
    utc = date.getTime();
  }
  return utc - offsetMinutes * 60_000;
}

/** Formats epoch milliseconds as RFC 3339 in UTC: seconds precision, milliseconds only when present. */
export function formatRfc3339(epochMs: number): string {
  const iso = new Date(epochMs).toISOString();
  return epochMs % 1000 === 0 ? iso.slice(0, 19) + "Z" : iso;
}

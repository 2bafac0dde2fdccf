/**
 * Strict RFC 3339 timestamps: parsing that refuses impossible dates
 * (`Date.parse` turns 30 February into 2 March) and formatting in UTC.
 *
 * @module
 */

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Parses an RFC 3339 date-time (`2026-03-12T10:00:00Z`, `…+02:00`, optional
 * fraction) into milliseconds since the epoch, or `undefined` when the text
 * is not one or names an impossible date or time. Digits past the
 * millisecond are truncated.
 */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12) return undefined;
  if (day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const millis = m[7] ? Number(m[7].slice(0, 3).padEnd(3, "0")) : 0;
  let offsetMinutes = 0;
  if (!m[8]) {
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  // Date.UTC maps years 0-99 to 1900-1999; set the full year explicitly.
  const date = new Date(utc);
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime() - offsetMinutes * 60_000;
}

/** Formats epoch milliseconds as RFC 3339 in UTC: seconds precision, milliseconds only when present. */
export function formatRfc3339(epochMs: number): string {
  const iso = new Date(epochMs).toISOString();
  return epochMs % 1000 === 0 ? iso.slice(0, 19) + "Z" : iso;
}

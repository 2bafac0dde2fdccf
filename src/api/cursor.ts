/**
 * Opaque, tamper-evident page cursors: a keyset position in the list order
 * `(sort_time, session_id)`, signed with HMAC-SHA256 together with the query
 * it belongs to, so a cursor cannot be forged, edited or reused with other
 * filters.
 *
 * @module
 */
import * as v from "valibot";

/** Where the previous page ended: the last row's sort key. */
export interface CursorPosition {
  /** `sort_time` of the last row, epoch milliseconds. */
  sortTime: number;
  /** `session_id` of the last row (lower-case UUID). */
  sessionId: string;
}

/** Longest cursor text accepted before any decoding. */
export const MAX_CURSOR_LENGTH = 256;

const VERSION = 1;
const KEY_LABEL = "session-audit/list-cursor/v1";
const encoder = new TextEncoder();

const Payload = v.tuple([
  v.literal(VERSION),
  v.pipe(v.number(), v.safeInteger()),
  v.pipe(v.string(), v.uuid()),
]);

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** Signs and checks cursors with a key derived from the API secret. */
export class CursorCodec {
  readonly #key: Promise<CryptoKey>;

  /**
   * @param secret The API secret; the cursor key is derived from it, so
   * rotating the secret invalidates outstanding cursors.
   */
  constructor(secret: string) {
    this.#key = (async () => {
      const master = await crypto.subtle.importKey(
        "raw",
        encoder.encode(secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      const derived = await crypto.subtle.sign(
        "HMAC",
        master,
        encoder.encode(KEY_LABEL),
      );
      return await crypto.subtle.importKey(
        "raw",
        derived,
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign", "verify"],
      );
    })();
  }

  /**
   * Encodes a position for the query identified by `binding` (a canonical
   * text of the filters and the caller's scope).
   */
  async encode(position: CursorPosition, binding: string): Promise<string> {
    const payload = toBase64Url(
      encoder.encode(
        JSON.stringify([VERSION, position.sortTime, position.sessionId]),
      ),
    );
    const mac = await crypto.subtle.sign(
      "HMAC",
      await this.#key,
      encoder.encode(`${payload}.${binding}`),
    );
    return `${payload}.${toBase64Url(new Uint8Array(mac))}`;
  }

  /**
   * Decodes a cursor made by {@linkcode encode} for the same `binding`.
   *
   * @returns the position, or `undefined` when the text is garbage, was
   * altered, or belongs to another query or secret.
   */
  async decode(
    cursor: string,
    binding: string,
  ): Promise<CursorPosition | undefined> {
    if (cursor.length > MAX_CURSOR_LENGTH) return undefined;
    const parts = cursor.split(".");
    if (parts.length !== 2) return undefined;
    const [payload, macText] = parts;
    const mac = fromBase64Url(macText);
    if (!mac || fromBase64Url(payload) === undefined) return undefined;
    const valid = await crypto.subtle.verify(
      "HMAC",
      await this.#key,
      mac,
      encoder.encode(`${payload}.${binding}`),
    );
    if (!valid) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(fromBase64Url(payload)));
    } catch {
      return undefined;
    }
    const result = v.safeParse(Payload, json);
    if (!result.success) return undefined;
    return { sortTime: result.output[1], sessionId: result.output[2] };
  }
}

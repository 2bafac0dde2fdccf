/**
 * Opaque, tamper-evident page cursors: a keyset position in the list order
 * `(sort_time, id)`, signed with HMAC-SHA256 together with the query
 * it belongs to, so a cursor cannot be forged, edited or reused with other
 * filters.
 *
 * @module
 */
import * as v from "valibot";
import { MAX_SIGNED_TOKEN_LENGTH, SignedTokenCodec } from "./signed_token.ts";

/** Where the previous page ended: the last row's sort key. */
export interface CursorPosition {
  /** `sort_time` of the last row, epoch milliseconds. */
  sortTime: number;
  /** `id` (storage order) of the last row. */
  id: number;
}

/** Longest cursor text accepted before any decoding. */
export const MAX_CURSOR_LENGTH = MAX_SIGNED_TOKEN_LENGTH;

// Version 1 carried the last row's session_id; its cursors no longer verify (a 400 naming
// `cursor`: start again from the first page).
const VERSION = 2;
const KEY_LABEL = "session-audit/list-cursor/v2";

const Payload = v.tuple([
  v.literal(VERSION),
  v.pipe(v.number(), v.safeInteger()),
  v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
]);

/** Signs and checks cursors with a key derived from the API secret. */
export class CursorCodec {
  readonly #tokens: SignedTokenCodec;

  /**
   * @param secret The API secret; the cursor key is derived from it, so
   * rotating the secret invalidates outstanding cursors.
   */
  constructor(secret: string) {
    this.#tokens = new SignedTokenCodec(secret, KEY_LABEL);
  }

  /**
   * Encodes a position for the query identified by `binding` (a canonical
   * text of the filters and the caller's scope).
   */
  encode(position: CursorPosition, binding: string): string {
    return this.#tokens.seal(`[${VERSION},${position.sortTime},${position.id}]`, binding);
  }

  /**
   * Decodes a cursor made by {@linkcode encode} for the same `binding`.
   *
   * @returns the position, or `undefined` when the text is garbage, was
   * altered, or belongs to another query or secret.
   */
  decode(cursor: string, binding: string): CursorPosition | undefined {
    const body = this.#tokens.open(cursor, binding);
    if (body === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return undefined;
    }
    const result = v.safeParse(Payload, json);
    if (!result.success) return undefined;
    return { sortTime: result.output[1], id: result.output[2] };
  }
}

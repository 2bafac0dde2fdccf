/**
 * Decoding: each message of a batch becomes a row to store or a dead letter
 * to quarantine (with its class). Never throws.
 *
 * @module
 */
import type { JsMsg } from "@nats-io/jetstream";
import { decodeSessionEnd } from "../event.ts";
import type { QuarantineClass } from "../quarantine.ts";
import type { DeadLetter, IncomingSessionEnd } from "../store/session_end_sql.ts";
import { nextTurn, SLICE } from "./turns.ts";

/** A decoded message, ready to store or quarantine. */
export type Decoded =
  | { msg: JsMsg; kind: "valid"; row: IncomingSessionEnd }
  | { msg: JsMsg; kind: "invalid"; letter: DeadLetter; class: QuarantineClass };

/** A batch decoded and split, ready to store. */
export interface DecodedBatch {
  /** The messages, in the order received. */
  messages: JsMsg[];
  /** Each message decoded, in the same order. */
  decoded: Decoded[];
  /** The valid ones' rows, in order. */
  rows: IncomingSessionEnd[];
  /** The invalid ones' dead letters, in order. */
  letters: DeadLetter[];
}

/** What decoding needs besides the messages. */
export interface DecodeSettings {
  /** The stream's name, recorded with each message. */
  stream: string;
  /** How far an `end_time` may lie after the stream received the event before it is flagged, ms. */
  skewMs?: number;
}

/** When the stream received `msg`, epoch milliseconds. */
function receivedAt(msg: JsMsg): number {
  return Math.floor(msg.info.timestampNanos / 1_000_000);
}

/** Decodes one message into a row or a dead letter. Never throws. */
export function classify(msg: JsMsg, { stream, skewMs }: DecodeSettings): Decoded {
  const streamSeq = msg.info.streamSequence;
  const at = receivedAt(msg);
  const result = decodeSessionEnd(msg.data, { receivedAt: at, skewMs });
  if (result.ok) {
    const row: IncomingSessionEnd = {
      event: result.event,
      stream,
      streamSeq,
      subject: msg.subject,
      payload: msg.data,
      receivedAt: at,
    };
    return { msg, kind: "valid", row };
  }
  const letter: DeadLetter = {
    stream,
    streamSeq,
    subject: msg.subject,
    payload: msg.data,
    error: result.reason,
    receivedAt: at,
  };
  return { msg, kind: "invalid", letter, class: result.class };
}

/**
 * Decodes a batch on the JavaScript thread, letting the event loop turn
 * every {@linkcode SLICE} messages (done while the previous batch commits).
 */
export async function decodeBatch(
  batch: JsMsg[],
  settings: DecodeSettings,
): Promise<DecodedBatch> {
  const decoded: Decoded[] = [];
  for (let i = 0; i < batch.length; i++) {
    if (i > 0 && i % SLICE === 0) await nextTurn();
    decoded.push(classify(batch[i], settings));
  }
  const rows: IncomingSessionEnd[] = [];
  const letters: DeadLetter[] = [];
  for (const d of decoded) {
    if (d.kind === "valid") rows.push(d.row);
    else letters.push(d.letter);
  }
  return { messages: batch, decoded, rows, letters };
}

/**
 * A JetStream message for unit tests: delivery info as the server would
 * put it in the reply subject, and a record of how it was settled.
 *
 * @module
 */
import type { DeliveryInfo, JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/nats-core";

/** One call that settles (or touches) a message, in the order made. */
export type Settlement =
  | { kind: "ack" }
  | { kind: "nak"; delay: number | undefined }
  | { kind: "term"; args: unknown[] }
  | { kind: "working" };

/** What a {@linkcode FakeMsg} is made from. */
export interface FakeMsgFields {
  /** Stream sequence. */
  seq: number;
  /** Messages the server said were waiting behind this one. @default 0 */
  pending?: number;
  /** The payload; a string is UTF-8 encoded. @default "{}" */
  data?: Uint8Array | string;
  /** @default "audit.session.end.<seq>" */
  subject?: string;
  /** When the stream received it, epoch ms. @default 1_773_000_000_000 */
  receivedAtMs?: number;
}

/** A {@linkcode JsMsg} that records its settlements instead of sending them. */
export class FakeMsg implements JsMsg {
  /** Every ack, nak, term or working call, in order. */
  readonly settlements: Settlement[] = [];
  /** Resolves with the first settlement. */
  readonly settled: Promise<Settlement>;
  readonly #settle: (settlement: Settlement) => void;
  readonly info: DeliveryInfo;
  readonly data: Uint8Array;
  readonly subject: string;
  readonly headers: MsgHdrs | undefined = undefined;
  readonly sid = 1;
  readonly redelivered = false;
  #closed = false;

  constructor(fields: FakeMsgFields) {
    const first = Promise.withResolvers<Settlement>();
    this.settled = first.promise;
    this.#settle = first.resolve;
    const { seq, pending = 0, data = "{}", receivedAtMs = 1_773_000_000_000 } = fields;
    this.data = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.subject = fields.subject ?? `audit.session.end.${seq}`;
    this.info = {
      domain: "",
      stream: "DEVICE_EVENTS",
      consumer: "api-session-audit-consumer",
      deliveryCount: 1,
      streamSequence: seq,
      deliverySequence: seq,
      timestampNanos: receivedAtMs * 1_000_000 + 123_456,
      pending,
      redelivered: false,
    };
  }

  get seq(): number {
    return this.info.streamSequence;
  }

  get timestampNanos(): bigint {
    return BigInt(this.info.timestampNanos);
  }

  get time(): Date {
    return new Date(Math.floor(this.info.timestampNanos / 1_000_000));
  }

  get timestamp(): string {
    return this.time.toISOString();
  }

  /** From now on every settlement throws, as on a closed connection. */
  closeConnection(): void {
    this.#closed = true;
  }

  /** The kinds of settlements so far, e.g. `["ack"]`. */
  get kinds(): string[] {
    return this.settlements.map((s) => s.kind);
  }

  #record(settlement: Settlement): void {
    if (this.#closed) throw new Error("closed connection");
    this.settlements.push(settlement);
    this.#settle(settlement);
  }

  ack(): void {
    this.#record({ kind: "ack" });
  }

  nak(millis?: number): void {
    this.#record({ kind: "nak", delay: millis });
  }

  working(): void {
    this.#record({ kind: "working" });
  }

  next(): void {
    throw new Error("FakeMsg.next is not used by the service");
  }

  term(...args: [reason?: string]): void {
    this.#record({ kind: "term", args });
  }

  ackAck(): Promise<boolean> {
    this.ack();
    return Promise.resolve(true);
  }

  json<T>(): T {
    return JSON.parse(this.string());
  }

  string(): string {
    return new TextDecoder().decode(this.data);
  }
}

/**
 * Who besides a tenant's bulk work is using the read API: the requests in
 * progress (as their {@linkcode Admission} counts them) and their kind,
 * remembered for a short while after they end. Fair turns ask it whether a bulk step should pause to leave room
 * (src/fair_turns.ts): a tenant alone exports at full speed; a quiet
 * request, of any tenant, or any request of another tenant makes its steps
 * yield.
 *
 * @module
 */
import { type Clock, systemTimers } from "../clock.ts";
import type { Party } from "../fair_turns.ts";
import type { Admission } from "./admission.ts";

/**
 * `bulk`: an export, a stats query, an integrity walk (work that takes
 * turns); `quiet`: everything else (a list, one item), which the turns make
 * room for.
 */
export type RequestKind = "bulk" | "quiet";

/** Options of {@linkcode Activity}. */
export interface ActivityOptions {
  /** The admission of the read API's requests (live feeds apart): who has one in progress. */
  requests: Pick<Admission, "tenants">;
  /**
   * Where time is read.
   * @default systemTimers
   */
  clock?: Clock;
  /**
   * How long a request still counts once it has ended, ms: a tenant that
   * polls keeps the turns yielding between its requests.
   * @default 1000
   */
  lingerMs?: number;
}

/** The read API's requests in progress, and those that ended a moment ago. */
export class Activity {
  readonly #clock: Clock;
  readonly #lingerMs: number;
  readonly #requests: Pick<Admission, "tenants">;
  /** Quiet requests in progress, all tenants together. */
  #quiet = 0;
  /** When the last quiet request ended. */
  #quietEnded = -Infinity;
  /** When each tenant's last request ended (dropped once the linger is over). */
  readonly #ended = new Map<string, number>();

  constructor(options: ActivityOptions) {
    this.#requests = options.requests;
    this.#clock = options.clock ?? systemTimers;
    this.#lingerMs = options.lingerMs ?? 1_000;
  }

  /**
   * Notes the kind of a request of `tenant` admitted by `requests`; call the
   * result once when it has ended (its place given back there).
   */
  enter(tenant: string, kind: RequestKind): () => void {
    if (kind === "quiet") this.#quiet++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const now = this.#clock.now();
      this.#ended.set(tenant, now);
      if (kind === "quiet") {
        this.#quiet--;
        this.#quietEnded = now;
      }
    };
  }

  /**
   * Whether `tenant`'s bulk work is contended: a quiet request (its own
   * included) or a request of another tenant is in progress, or ended less
   * than the linger ago.
   */
  contended(tenant: string): boolean {
    const now = this.#clock.now();
    if (this.#quiet > 0 || now - this.#quietEnded < this.#lingerMs) return true;
    for (const other of this.#requests.tenants()) if (other !== tenant) return true;
    let seen = false;
    for (const [other, ended] of this.#ended) {
      if (now - ended >= this.#lingerMs) this.#ended.delete(other);
      else if (other !== tenant) seen = true;
    }
    return seen;
  }

  /** The party `tenant`'s bulk work takes turns as. */
  party(tenant: string): Party {
    return { key: tenant, contended: () => this.contended(tenant) };
  }
}

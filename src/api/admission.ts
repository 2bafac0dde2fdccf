/**
 * Admission by count: how many things (requests, live feeds) are in
 * progress in total, per tenant and per token subject, each against its
 * ceiling; one more than a ceiling allows is refused at once, never queued.
 *
 * @module
 */

/** The ceilings of one {@linkcode Admission}. */
export interface AdmissionLimits {
  /** Everyone together. */
  total: number;
  /** One tenant (administrators count as the pseudo-tenant `*`). */
  perTenant: number;
  /**
   * One token subject (`sub`), for tokens that carry one.
   * @default no limit
   */
  perSubject?: number;
}

/** Which ceiling refused: the narrowest one reached is named. */
export type AdmissionLimit = "subject" | "tenant" | "total";

/** The answer of {@linkcode Admission.tryEnter}. */
export type Entry =
  | { admitted: true; /** Gives the place back; later calls do nothing. */ leave(): void }
  | { admitted: false; limit: AdmissionLimit; /** The ceiling reached. */ ceiling: number };

function bump(counts: Map<string, number>, key: string, delta: number): void {
  const next = (counts.get(key) ?? 0) + delta;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}

/** Counts entries against {@linkcode AdmissionLimits}. */
export class Admission {
  readonly #limits: AdmissionLimits;
  readonly #tenants = new Map<string, number>();
  readonly #subjects = new Map<string, number>();
  #total = 0;

  constructor(limits: AdmissionLimits) {
    for (const [name, value] of Object.entries(limits)) {
      if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
        throw new RangeError(`'${name}' must be a positive integer: current value is ${value}`);
      }
    }
    this.#limits = limits;
  }

  /** In progress, everyone together. */
  get total(): number {
    return this.#total;
  }

  /** In progress for one tenant. */
  inProgress(tenant: string): number {
    return this.#tenants.get(tenant) ?? 0;
  }

  /** The tenants with something in progress. */
  tenants(): IterableIterator<string> {
    return this.#tenants.keys();
  }

  /** Takes a place for `tenant` (and `subject`), or says which ceiling refuses it. */
  tryEnter(tenant: string, subject?: string): Entry {
    const { perSubject, perTenant, total } = this.#limits;
    if (subject !== undefined && perSubject !== undefined) {
      if ((this.#subjects.get(subject) ?? 0) >= perSubject) {
        return { admitted: false, limit: "subject", ceiling: perSubject };
      }
    }
    if (this.inProgress(tenant) >= perTenant) {
      return { admitted: false, limit: "tenant", ceiling: perTenant };
    }
    if (this.#total >= total) return { admitted: false, limit: "total", ceiling: total };
    const counted = subject !== undefined && perSubject !== undefined;
    this.#total++;
    bump(this.#tenants, tenant, 1);
    if (counted) bump(this.#subjects, subject, 1);
    let left = false;
    return {
      admitted: true,
      leave: () => {
        if (left) return;
        left = true;
        this.#total--;
        bump(this.#tenants, tenant, -1);
        if (counted) bump(this.#subjects, subject, -1);
      },
    };
  }
}

/**
 * The time budget of the read API's heavy queries (statistics, an export
 * page, an integrity walk): one abort signal per query that fires when the
 * budget is spent, when the process cuts long responses at shutdown, or
 * when the client has gone, and the answer each of those gets.
 *
 * @module
 */
import type { HTTPException } from "hono/http-exception";
import { systemTimers, type Timers } from "../clock.ts";
import { ShuttingDown } from "../shutdown.ts";
import { apiError } from "./errors.ts";

/** A heavy query ran out of its time budget (`API_QUERY_BUDGET_MS`) and was interrupted. */
export class QueryBudgetExceeded extends Error {
  constructor(budgetMs: number) {
    super(`the query took longer than its budget of ${budgetMs} ms and was interrupted`);
    this.name = "QueryBudgetExceeded";
  }
}

/** What bounds a heavy query. */
export interface QueryBudget {
  /** `API_QUERY_BUDGET_MS` */
  budgetMs: number;
  /** Aborted when the process cuts long responses (shutdown). */
  cutoff?: AbortSignal;
  /**
   * Where the budget's time is measured.
   * @default systemTimers
   */
  timers?: Timers;
  /**
   * Told each time a query runs out of its budget (counted in `/metrics`).
   * @default {() => {}}
   */
  onExceeded?: () => void;
}

/** A signal for one heavy query; call `dispose` once the query has settled. */
export interface BudgetSignal {
  signal: AbortSignal;
  dispose(): void;
}

/**
 * Starts the budget of one query: the signal aborts with a
 * {@linkcode QueryBudgetExceeded} after `budgetMs`, with a
 * {@linkcode ShuttingDown} at the cut-off, or with the client's own
 * reason when `client` aborts.
 */
export function startBudget(budget: QueryBudget, client?: AbortSignal): BudgetSignal {
  const controller = new AbortController();
  const timers = budget.timers ?? systemTimers;
  const abort = (reason: unknown) => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  const timer = timers.setTimeout(() => {
    if (controller.signal.aborted) return;
    budget.onExceeded?.();
    abort(new QueryBudgetExceeded(budget.budgetMs));
  }, budget.budgetMs);
  const onCutoff = () => abort(new ShuttingDown());
  const onClientGone = () => abort(client?.reason);
  if (budget.cutoff?.aborted) onCutoff();
  budget.cutoff?.addEventListener("abort", onCutoff, { once: true });
  client?.addEventListener("abort", onClientGone, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      timers.clearTimeout(timer);
      budget.cutoff?.removeEventListener("abort", onCutoff);
      client?.removeEventListener("abort", onClientGone);
    },
  };
}

/** Runs `query` under a fresh budget and disposes of it afterwards. */
export async function withinBudget<T>(
  budget: QueryBudget,
  client: AbortSignal | undefined,
  query: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { signal, dispose } = startBudget(budget, client);
  try {
    return await query(signal);
  } catch (err) {
    throw answerFor(err);
  } finally {
    dispose();
  }
}

/**
 * The API answer for a query stopped by its budget or by shutdown (503 with
 * the API's error shape), or `err` itself for anything else.
 */
export function answerFor(err: unknown): unknown {
  if (err instanceof QueryBudgetExceeded) return budgetExceeded(err);
  if (err instanceof ShuttingDown) {
    return apiError(503, "shutting_down", `${err.message}: retry on another instance or later`, {
      headers: { "Retry-After": "5" },
    });
  }
  return err;
}

function budgetExceeded(err: QueryBudgetExceeded): HTTPException {
  return apiError(
    503,
    "query_budget_exceeded",
    `${err.message}: narrow it (since, until, tenant_id) or ask the operator to raise API_QUERY_BUDGET_MS`,
  );
}

import { deepStrictEqual, equal } from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { rejects } from "./testing/config_errors.ts";

Deno.test("SHUTDOWN_DEADLINE_SECONDS defaults below systemd's 30 s and is validated", () => {
  equal(loadConfig({}).shutdownDeadlineSeconds, 20);
  equal(loadConfig({ SHUTDOWN_DEADLINE_SECONDS: "5" }).shutdownDeadlineSeconds, 5);
  for (const bad of ["0", "1", "abc", "3601", "-4"]) {
    rejects({ SHUTDOWN_DEADLINE_SECONDS: bad }, "SHUTDOWN_DEADLINE_SECONDS", bad);
  }
});

Deno.test("the read API's limits have defaults for a small box and are validated", () => {
  deepStrictEqual(loadConfig({}).limits, {
    concurrent: 32,
    concurrentPerTenant: 4,
    concurrentPerSubject: 2,
    liveFeeds: 64,
    liveFeedsPerTenant: 4,
    ratePerTenantPerMinute: 1200,
    queryBudgetMs: 10_000,
  });
  equal(loadConfig({ API_RATE_LIMIT_PER_TENANT: "0" }).limits.ratePerTenantPerMinute, 0);
  for (
    const [name, bad] of [
      ["API_MAX_CONCURRENT", "0"],
      ["API_MAX_CONCURRENT_PER_TENANT", "x"],
      ["API_MAX_CONCURRENT_PER_SUBJECT", "-1"],
      ["API_MAX_LIVE_FEEDS", "1.5"],
      ["API_MAX_LIVE_FEEDS_PER_TENANT", "0"],
      ["API_RATE_LIMIT_PER_TENANT", "ten"],
      ["API_QUERY_BUDGET_MS", "10"],
    ]
  ) {
    rejects({ [name]: bad }, name, bad);
  }
});

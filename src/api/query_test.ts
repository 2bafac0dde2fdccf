import { deepStrictEqual } from "node:assert/strict";
import { DEFAULT_LIMIT, parseGetQuery, parseListQuery } from "./query.ts";

const q = (text: string) => parseListQuery(new URLSearchParams(text));

Deno.test("an empty list query means the default page size and no filter", () => {
  const result = q("");
  deepStrictEqual(result.ok, true);
  if (!result.ok) return;
  const given = Object.entries(result.value).filter(([, value]) => value !== undefined);
  deepStrictEqual(given, [["limit", DEFAULT_LIMIT]]);
});

Deno.test("list query values are normalised: lower-case ids, epoch-millisecond times, numeric limit", () => {
  const result = q(
    "device_id=ABCDEF00-0000-4000-8000-00000000000A&since=2026-03-12T12:00:00%2B02:00&until=2026-03-12T10:00:00.5Z&limit=7&reason=idle_timeout",
  );
  deepStrictEqual(result.ok, true);
  if (!result.ok) return;
  deepStrictEqual(result.value.deviceId, "abcdef00-0000-4000-8000-00000000000a");
  deepStrictEqual(result.value.since, Date.UTC(2026, 2, 12, 10));
  deepStrictEqual(result.value.until, Date.UTC(2026, 2, 12, 10, 0, 0, 500));
  deepStrictEqual(result.value.limit, 7);
  deepStrictEqual(result.value.reason, "idle_timeout");
});

Deno.test("each list query problem names its parameter", () => {
  const cases: [string, string][] = [
    ["limit=0", "limit"],
    ["limit=500&limit=1", "limit"],
    ["until=2026-02-29T00:00:00Z", "until"],
    ["since=2026-03-12T10:00:00Z&until=2026-03-12T09:59:59Z", "since"],
    ["reason=" + "r".repeat(65), "reason"],
    ["cursor=%%%", "cursor"],
    ["sort=asc", "sort"],
  ];
  for (const [text, param] of cases) {
    const result = q(text);
    deepStrictEqual(result.ok ? undefined : result.param, param, text);
  }
});

Deno.test("a reason of 64 printable characters with inner spaces is accepted", () => {
  const reason = "policy kick " + "x".repeat(52);
  deepStrictEqual(q(`reason=${encodeURIComponent(reason)}`).ok, true);
});

Deno.test("the single-item query takes only tenant_id", () => {
  deepStrictEqual(parseGetQuery(new URLSearchParams("")), {
    ok: true,
    value: { tenantId: undefined },
  });
  const bad = parseGetQuery(new URLSearchParams("device_id=x"));
  deepStrictEqual(bad.ok ? undefined : bad.param, "device_id");
});

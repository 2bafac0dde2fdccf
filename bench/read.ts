/**
 * The read benchmark: concurrent clients calling `GET /v1/session-ends`
 * with tenant tokens — the first page, a deep page through a cursor, and a
 * `device_id` filter — reporting requests per second, p50 and p99.
 *
 * @module
 */

/** One query's figures. */
export interface ReadFigures {
  requests: number;
  errors: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** A tenant the clients read as. */
export interface ReadTenant {
  token: string;
  deviceId: string;
}

/** The three queries, each a path per tenant. */
export interface ReadQueries {
  first: string[];
  deep: string[];
  device: string[];
}

const LIST = "/v1/session-ends";

async function getJson(
  baseUrl: string,
  path: string,
  token: string,
): Promise<{ items: unknown[]; next_cursor: string | null }> {
  const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) {
    throw new Error(`GET ${path} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  }
  return await res.json();
}

/**
 * Builds each tenant's paths. The deep page is the one that starts after
 * `deepRows` rows: its cursor is found by walking 500-row pages.
 */
export async function prepareQueries(
  baseUrl: string,
  tenants: ReadTenant[],
  deepRows: number,
): Promise<ReadQueries> {
  const queries: ReadQueries = { first: [], deep: [], device: [] };
  for (const tenant of tenants) {
    queries.first.push(`${LIST}?limit=50`);
    queries.device.push(`${LIST}?limit=50&device_id=${tenant.deviceId}`);
    let walked = 0;
    let cursor: string | null = null;
    while (walked < deepRows) {
      const limit = Math.min(500, deepRows - walked);
      const page: { items: unknown[]; next_cursor: string | null } = await getJson(
        baseUrl,
        `${LIST}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        tenant.token,
      );
      walked += page.items.length;
      cursor = page.next_cursor;
      if (cursor === null) throw new Error(`tenant has fewer than ${deepRows} rows`);
    }
    queries.deep.push(`${LIST}?limit=50&cursor=${encodeURIComponent(cursor ?? "")}`);
  }
  return queries;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/**
 * Runs `clients` concurrent loops for `durationMs` (after `warmupMs` not
 * counted), client `i` reading as tenant `i % tenants.length`.
 */
export async function loadTest(
  baseUrl: string,
  tenants: ReadTenant[],
  paths: string[],
  options: { clients: number; durationMs: number; warmupMs: number },
): Promise<ReadFigures> {
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const client = async (i: number) => {
    const token = tenants[i % tenants.length].token;
    const url = `${baseUrl}${paths[i % paths.length]}`;
    const headers = { authorization: `Bearer ${token}` };
    while (true) {
      const t0 = performance.now();
      if (t0 >= end) return;
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      const t1 = performance.now();
      if (t0 < measureFrom) continue;
      if (res.ok) latencies.push(t1 - t0);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)));
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    perSecond: latencies.length / (options.durationMs / 1000),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
}

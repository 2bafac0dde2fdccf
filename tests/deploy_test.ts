/**
 * The operations assets under deploy/: the Prometheus rules load and pass
 * their unit tests, every expression of the Grafana dashboard is valid
 * PromQL, and every metric they read is one the service exports.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { Metrics } from "../src/metrics.ts";
import { promtool } from "./prometheus.ts";

const DEPLOY = new URL("../deploy/", import.meta.url).pathname;
const RULES = `${DEPLOY}prometheus/session_audit_rules.yml`;
const RULES_TEST = `${DEPLOY}prometheus/session_audit_rules_test.yml`;
const DASHBOARD = `${DEPLOY}grafana/session_audit_dashboard.json`;

/**
 * Metrics the assets read that no code exports yet, each with the issue
 * that creates it. The test below fails once one is exported: remove it here then.
 */
const NOT_YET_EXPORTED = new Map<string, string>();

/** Grafana's variables, replaced by values that Prometheus accepts in their place. */
const GRAFANA_VARIABLES: Record<string, string> = {
  "$__rate_interval": "5m",
  "$instance": ".*",
};

interface DashboardTarget {
  panel: string;
  refId: string;
  expr: string;
}

interface DashboardPanel {
  id: number;
  title: string;
  type: string;
  panels?: DashboardPanel[];
  targets?: Array<{ refId: string; expr: string }>;
}

async function readDashboard(): Promise<{ panels: DashboardPanel[]; templating: unknown }> {
  return JSON.parse(await Deno.readTextFile(DASHBOARD));
}

/** Every panel of the dashboard, those inside collapsed rows too. */
function allPanels(panels: DashboardPanel[]): DashboardPanel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Every query of the dashboard's panels. */
function dashboardTargets(panels: DashboardPanel[]): DashboardTarget[] {
  return allPanels(panels).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr }))
  );
}

/** A dashboard expression with Grafana's variables replaced (throws on one it does not know). */
function withVariables(expr: string): string {
  let out = expr;
  for (const [name, value] of Object.entries(GRAFANA_VARIABLES)) out = out.replaceAll(name, value);
  const unknown = out.match(/\$\{?\w+/);
  if (unknown) throw new Error(`unknown Grafana variable ${unknown[0]} in: ${expr}`);
  return out;
}

/** The session_audit_* and process_* names a text reads (file names left out). */
function metricNames(text: string): string[] {
  const withoutFiles = text.replace(/[\w/.-]+\.(?:yml|json)\b/g, "");
  return [...withoutFiles.matchAll(/\b(?:session_audit|process)_[a-z_]+\b/g)].map((m) => m[0]);
}

Deno.test("the alert rules load: promtool check rules", async () => {
  const run = await promtool(["check", "rules", RULES]);
  equal(run.code, 0, run.stdout + run.stderr);
});

Deno.test("the alert rules pass their unit tests: promtool test rules", async () => {
  const run = await promtool(["test", "rules", RULES_TEST]);
  equal(run.code, 0, run.stdout + run.stderr);
  ok(run.stdout.includes("SUCCESS"), run.stdout);
});

Deno.test("every alert of the rules has a unit test that expects it to fire", async () => {
  const rules = await Deno.readTextFile(RULES);
  const tests = await Deno.readTextFile(RULES_TEST);
  const alerts = new Set([...rules.matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1]));
  ok(alerts.size >= 6, `alerts found: ${[...alerts]}`);
  // An alertname followed by a non-empty exp_alerts list.
  const expected = new Set(
    [...tests.matchAll(/alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels:/g)].map((m) => m[1]),
  );
  deepStrictEqual([...alerts].filter((a) => !expected.has(a)), []);
});

Deno.test("every dashboard expression is valid PromQL: promtool check rules on a rule file of them", async () => {
  const targets = dashboardTargets((await readDashboard()).panels);
  ok(targets.length >= 20, `queries found: ${targets.length}`);
  const rules = targets.map((t, i) => ({
    record: `dashboard:query_${i}`,
    expr: withVariables(t.expr),
  }));
  const dir = await Deno.makeTempDir({ prefix: "session-audit-dashboard-" });
  try {
    // JSON is YAML: promtool reads it as a rule file.
    const file = `${dir}/dashboard_rules.json`;
    await Deno.writeTextFile(file, JSON.stringify({ groups: [{ name: "dashboard", rules }] }));
    const run = await promtool(["check", "rules", file]);
    equal(run.code, 0, run.stdout + run.stderr);
    ok(run.stdout.includes(`SUCCESS: ${rules.length} rules found`), run.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the dashboard's panels have distinct ids and read Prometheus through its variable", async () => {
  const panels = allPanels((await readDashboard()).panels);
  const ids = panels.map((p) => p.id);
  deepStrictEqual(ids, [...new Set(ids)]);
  for (const panel of panels.filter((p) => p.type !== "row")) {
    deepStrictEqual(
      (panel as { datasource?: unknown }).datasource,
      { type: "prometheus", uid: "${datasource}" },
      panel.title,
    );
  }
});

Deno.test("every metric the rules and the dashboard read is one the service exports", async () => {
  const defined = new Map(new Metrics().definitions().map((d) => [d.name, d.type]));
  const exported = (name: string) => {
    if (defined.has(name)) return true;
    const base = name.replace(/_(bucket|sum|count)$/, "");
    return base !== name && defined.get(base) === "histogram";
  };
  const dashboard = await readDashboard();
  const sources = [
    ["rules", await Deno.readTextFile(RULES)],
    ["rules' tests", await Deno.readTextFile(RULES_TEST)],
    ["dashboard", dashboardTargets(dashboard.panels).map((t) => t.expr).join("\n")],
    ["dashboard variables", JSON.stringify(dashboard.templating)],
  ];
  const read = new Set<string>();
  for (const [source, text] of sources) {
    for (const name of metricNames(text)) {
      read.add(name);
      ok(exported(name) || NOT_YET_EXPORTED.has(name), `${source} read ${name}: not exported`);
    }
  }
  ok(read.size >= 20, `metrics read: ${read.size}`);
  for (const [name, issue] of NOT_YET_EXPORTED) {
    ok(read.has(name), `${name} is no longer read`);
    ok(!defined.has(name), `${name} is exported now (${issue}): remove it from NOT_YET_EXPORTED`);
  }
});

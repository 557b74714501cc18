import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../src/paths.js';
import { DASHBOARD_FILES } from './tools/k8s-manifests.js';
import { populatedApp } from './helpers/populated.js';
import type { Populated } from './helpers/populated.js';
import { parsePromText } from './helpers/prom-text.js';

interface Panel {
  id: number;
  title: string;
  datasource: { type: string; uid: string };
  targets: { expr?: string; datasource: { uid: string } }[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

let exported: Set<string>;
let env: Populated;
before(async () => {
  env = await populatedApp(200);
  const text = await (await fetch(`${env.app.url}/metrics`)).text();
  exported = new Set(parsePromText(text).map((s) => s.name));
  // Every family is listed by its # TYPE line even before it has samples.
  for (const m of text.matchAll(/^# TYPE (\S+) (\w+)/gm)) {
    exported.add(m[1]);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(m[1] + s);
  }
});
after(async () => {
  await env.stop();
});

const PROMQL_WORDS = new Set(['sum', 'by', 'rate', 'increase', 'topk', 'histogram_quantile', 'le', 'offset', 'unless', 'and', 'or', 'on', 'without', 'max', 'min', 'avg', 'count', 'bool', 'label_values', 'query_result', 'label_replace', 'max_over_time', 'absent', 'up', 'namespace']);

function metricNames(expr: string): string[] {
  const noStrings = expr
    .replace(/"[^"]*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  return [...noStrings.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((w) => w.includes('_') && !PROMQL_WORDS.has(w) && !/^\$/.test(w));
}

for (const file of DASHBOARD_FILES) {
  test(`dashboard ${file}: parses, unique panel ids, templated datasource, only exported metrics`, () => {
    const d = JSON.parse(readFileSync(join(ROOT_DIR, 'dashboards', file), 'utf8')) as Dashboard;
    assert.ok(d.uid && d.title);
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const dsVar = d.templating.list.find((v) => v.name === 'datasource');
    assert.equal(dsVar?.type, 'datasource');
    assert.equal(dsVar?.query, 'prometheus');
    const variables = new Set(d.templating.list.filter((v) => v.type === 'datasource').map((v) => `\${${v.name}}`));
    for (const p of d.panels) {
      assert.ok(variables.has(p.datasource.uid), `${p.title}: datasource uid ${p.datasource.uid} is a datasource variable`);
      for (const t of p.targets) {
        assert.ok(variables.has(t.datasource.uid), `${p.title}: target datasource is templated`);
        if (t.expr === undefined) continue;
        const names = metricNames(t.expr);
        assert.ok(names.length > 0, `${p.title}: query names a metric`);
        for (const n of names) assert.ok(exported.has(n), `${p.title}: ${n} is exported by flowkeeper`);
      }
    }
    for (const v of d.templating.list) {
      const q = (v.query as { query?: string } | string | undefined);
      const text = typeof q === 'string' ? q : q?.query;
      // label_values(metric{...}, label): only the first argument names a metric.
      const metricPart = text?.replace(/label_values\((.*),\s*\w+\)$/, '$1');
      if (v.type === 'query' && metricPart) for (const n of metricNames(metricPart)) assert.ok(exported.has(n), `variable ${v.name}: ${n} is exported`);
    }
  });
}

test('alert rules reference only exported metrics', () => {
  const rules = readFileSync(join(ROOT_DIR, 'dashboards', 'alerts', 'flowkeeper.rules.yaml'), 'utf8');
  let checked = 0;
  for (const [, expr] of rules.matchAll(/expr: \|?\n?([\s\S]*?)\n\s+(?:for|labels):/g)) {
    for (const n of metricNames(expr)) {
      assert.ok(exported.has(n), `${n} is exported`);
      checked++;
    }
  }
  assert.ok(checked >= 9, `every rule's metrics were checked (${checked})`);
});

test('the dropped-traffic namespace variable and its panels cover drops into a namespace as well as out of it', () => {
  const d = JSON.parse(readFileSync(join(ROOT_DIR, 'dashboards', 'flowkeeper-dropped-traffic.json'), 'utf8')) as Dashboard;
  const variable = d.templating.list.find((v) => v.name === 'namespace')!;
  assert.match(JSON.stringify(variable.query), /source_namespace[\s\S]*destination_namespace/);
  for (const p of d.panels) {
    for (const t of p.targets) {
      if (t.expr?.includes('$namespace')) assert.match(t.expr, /destination_namespace=~"\$namespace"/, `${p.title} filters either side`);
    }
  }
});

/** Grafana's interpolation of the variables the Infinity panel uses (regex format, ISO dates). */
function interpolate(text: string, vars: { namespace: string[] | 'All'; cluster: string[] | 'All'; from: Date; to: Date }): string {
  const regex = (v: string[] | 'All'): string => (v === 'All' ? '.*' : v.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));
  return text
    .replaceAll('${namespace:regex}', regex(vars.namespace))
    .replaceAll('${cluster:regex}', regex(vars.cluster))
    .replaceAll('${__from:date:iso}', vars.from.toISOString())
    .replaceAll('${__to:date:iso}', vars.to.toISOString());
}

test('the "latest denied flows" table follows $cluster and $namespace, answers ranges beyond --query-max-range, and names default-deny', async () => {
  const dashboard = JSON.parse(readFileSync(join(ROOT_DIR, 'dashboards', 'flowkeeper-policy-denials.json'), 'utf8')) as Dashboard;
  const panel = dashboard.panels.find((p) => p.datasource.type === 'yesoreyeram-infinity-datasource')!;
  const target = panel.targets[0] as unknown as { url: string; url_options: { params: { key: string; value: string }[] } };
  const to = new Date();
  const from = new Date(to.getTime() - 4000 * 86400_000); // beyond this app's --query-max-range (3650d; 7d by default)
  const query = async (namespace: string[] | 'All', cluster: string[] | 'All'): Promise<{ status: number; body: { flows: Record<string, any>[]; range_clamped?: boolean } }> => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const url = new URL(target.url, env.app.url);
    for (const p of target.url_options.params) url.searchParams.append(p.key, interpolate(p.value, { namespace, cluster, from, to }));
    const res = await fetch(url);
    return { status: res.status, body: await res.json() as never };
  };
  const all = await query('All', 'All');
  assert.equal(all.status, 200, JSON.stringify(all.body).slice(0, 300));
  assert.equal(all.body.range_clamped, true, 'a range beyond --query-max-range is cut to its newest part, and says so');
  assert.ok(all.body.flows.length > 0, 'the simulator denies some flows');
  for (const f of all.body.flows) assert.ok(f.denied_by.length > 0, `every denial names its policy or default-deny: ${JSON.stringify(f.denied_by)}`);
  assert.ok(all.body.flows.some((f) => f.denied_by[0] === 'default-deny'), 'denials that name no policy read default-deny');
  const namespace = all.body.flows[0].destination.namespace || all.body.flows[0].source.namespace;
  const one = await query([namespace], 'All');
  assert.equal(one.status, 200);
  assert.ok(one.body.flows.length > 0 && one.body.flows.every((f) => f.source.namespace === namespace || f.destination.namespace === namespace), `only ${namespace}`);
  const none = await query('All', ['no-such-cluster']);
  assert.equal(none.status, 200);
  assert.equal(none.body.flows.length, 0, 'an unselected cluster shows nothing');
});

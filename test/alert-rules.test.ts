import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { join } from 'node:path';
import { ROOT_DIR } from '../src/paths.js';
import { tempDir } from './helpers/harness.js';
import { filtersFromParams } from '../src/api/params.js';

const ALERTS = join(ROOT_DIR, 'dashboards', 'alerts');

function promtool(): string | null {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return found.status === 0 ? 'promtool' : null;
}

const tool = promtool();
// CI installs promtool (.ci/run); on a developer machine without it the rule
// tests are reported as skipped with the reason, never as passed.
const skip = tool ? false : `promtool not found: install Debian package "prometheus" (apt-get install prometheus) to run the alert rule tests`;
if (!tool && process.env.CI) throw new Error('promtool is required in CI (.ci/run installs Debian package prometheus)');

test('promtool check rules accepts the alert rules', { skip }, () => {
  const out = execFileSync(tool!, ['check', 'rules', join(ALERTS, 'flowkeeper.rules.yaml')], { encoding: 'utf8' });
  assert.match(out, /SUCCESS: 13 rules found/);
});

test('promtool test rules: every alert fires in one case and stays silent in another', { skip }, () => {
  const run = spawnSync(tool!, ['test', 'rules', join(ALERTS, 'tests', 'flowkeeper.rules.test.yaml')], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const rules = readFileSync(join(ALERTS, 'flowkeeper.rules.yaml'), 'utf8');
  const cases = readFileSync(join(ALERTS, 'tests', 'flowkeeper.rules.test.yaml'), 'utf8');
  for (const [, name] of rules.matchAll(/- alert: (\w+)/g)) {
    const blocks = [...cases.matchAll(new RegExp(`alertname: ${name}\\n\\s+exp_alerts:(\\s*\\[\\])?`, 'g'))];
    assert.ok(blocks.some((b) => b[1] === undefined), `${name} has a case that fires`);
    assert.ok(blocks.some((b) => b[1] !== undefined), `${name} has a case that stays silent`);
  }
});

test('promtool check config accepts the compose stack Prometheus config', { skip }, () => {
  const { dir, cleanup } = tempDir();
  try {
    const config = readFileSync(join(ROOT_DIR, 'dashboards', 'prometheus', 'prometheus.yml'), 'utf8').replace('/etc/prometheus/alerts/', `${ALERTS}/`);
    writeFileSync(join(dir, 'prometheus.yml'), config);
    const out = execFileSync(tool!, ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
    assert.match(out, /SUCCESS/);
  } finally {
    cleanup();
  }
});

interface Rule {
  alert?: string;
  annotations?: Record<string, string>;
}

/** The rules' label templates filled with sample values, as Prometheus would. */
function fillLabels(template: string): string {
  const sample: Record<string, string> = { cluster: 'prod', namespace: 'payments', policy: 'payments/deny', reason: 'POLICY_DENIED', relay: 'r', instance: 'fk:8080', source: 'node' };
  return template.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, (_m, name: string) => sample[name] ?? `<${name}>`);
}

test('every flow alert links to its evidence: a valid flowkeeper query and a dashboard with its variables, labels filled in', () => {
  const rules = (parse(readFileSync(join(ALERTS, 'flowkeeper.rules.yaml'), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
  const dashboards = new Map(readdirSync(join(ROOT_DIR, 'dashboards')).filter((f) => f.endsWith('.json')).map((f) => {
    const d = JSON.parse(readFileSync(join(ROOT_DIR, 'dashboards', f), 'utf8')) as { uid: string; templating: { list: { name: string }[] } };
    return [d.uid, new Set(d.templating.list.map((v) => v.name))];
  }));
  const flowAlerts = rules.filter((r) => /PolicyDenials|Drop/.test(r.alert ?? ''));
  assert.ok(flowAlerts.length >= 4, 'the denial and drop alerts');
  for (const rule of rules) assert.ok(rule.annotations?.runbook, `${rule.alert} has a runbook`);
  for (const rule of flowAlerts) {
    const flows = fillLabels(rule.annotations?.flows_path ?? '');
    assert.match(flows, /^\/api\/v1\/flows\?/, `${rule.alert} links to its flows`);
    const url = new URL(flows, 'http://flowkeeper');
    const params: Record<string, string[]> = {};
    for (const [k, v] of url.searchParams) if (k !== 'format') (params[k] ??= []).push(v);
    assert.ok(Object.keys(params).length > 0, `${rule.alert}: the link filters`);
    filtersFromParams(params); // a query the API accepts
    const dashboard = new URL(fillLabels(rule.annotations?.dashboard_path ?? ''), 'http://grafana');
    const uid = /^\/d\/([^/]+)\/?$/.exec(dashboard.pathname)?.[1];
    assert.ok(uid && dashboards.has(uid), `${rule.alert} links to a shipped dashboard (${dashboard.pathname})`);
    for (const [k] of dashboard.searchParams) {
      assert.ok(dashboards.get(uid!)!.has(k.replace(/^var-/, '')), `${rule.alert}: dashboard ${uid} has variable ${k}`);
    }
  }
});

function amtool(): string | null {
  return spawnSync('amtool', ['--version'], { encoding: 'utf8' }).status === 0 ? 'amtool' : null;
}
const am = amtool();
const amSkip = am ? false : 'amtool not found: install Debian package "prometheus-alertmanager" to check the Alertmanager config and evidence template';
if (!am && process.env.CI) throw new Error('amtool is required in CI (.ci/run installs Debian package prometheus-alertmanager)');

test('amtool accepts the compose Alertmanager config, and the evidence template renders each alert\'s own window', { skip: amSkip }, () => {
  const { dir, cleanup } = tempDir();
  try {
    const template = join(ROOT_DIR, 'dashboards', 'alertmanager', 'flowkeeper.tmpl');
    const config = readFileSync(join(ROOT_DIR, 'dashboards', 'alertmanager', 'alertmanager.yml'), 'utf8').replace('/etc/alertmanager/flowkeeper.tmpl', template);
    writeFileSync(join(dir, 'alertmanager.yml'), config);
    assert.match(execFileSync(am!, ['check-config', join(dir, 'alertmanager.yml')], { encoding: 'utf8' }), /SUCCESS/);
    // amtool renders over its own example alerts (no flowkeeper annotations): check the window arithmetic.
    const out = execFileSync(am!, ['template', 'render', `--template.glob=${template}`, '--template.text',
      '{{ range .Alerts }}{{ .StartsAt.Unix }} {{ template "flowkeeper.api_window" . }} {{ template "flowkeeper.grafana_window" . }}\n{{ end }}{{ template "flowkeeper.evidence" . }}'], { encoding: 'utf8' });
    const windows = out.split('\n').filter((l) => /^\d+ since=/.test(l));
    assert.ok(windows.length > 0, out);
    for (const line of windows) {
      const [started, api, grafana] = line.split(' ');
      const since = Date.parse(/since=([^&]+)/.exec(api)![1]) / 1000;
      assert.equal(since, Number(started) - 1800, `the API window starts 30 minutes before the alert: ${line}`);
      assert.equal(Math.floor(Number(/from=(\d+)/.exec(grafana)![1]) / 1000), Number(started) - 1800, `so does the dashboard's: ${line}`);
    }
  } finally {
    cleanup();
  }
});

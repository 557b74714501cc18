import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../src/paths.js';
import { tempDir } from './helpers/harness.js';

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
  assert.match(out, /SUCCESS: 12 rules found/);
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

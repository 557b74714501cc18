import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPTIONS } from '../src/config/options.js';
import { ROOT_DIR } from '../src/paths.js';
import { populatedApp } from './helpers/populated.js';

const readme = readFileSync(join(ROOT_DIR, 'README.md'), 'utf8');

test('README quick start has the two commands, and documents every option', () => {
  assert.ok(readme.includes('npm ci && npm run demo'));
  assert.ok(readme.includes('npm ci && npm test'));
  for (const o of Object.values(OPTIONS)) {
    assert.ok(readme.includes(`\`--${o.flag}\``), `--${o.flag} is documented`);
    assert.ok(readme.includes(`FLOWKEEPER_${o.flag.toUpperCase().replace(/-/g, '_')}`), `env of --${o.flag} is documented`);
  }
});

test('README documents every endpoint and every flowkeeper metric', async () => {
  const env = await populatedApp(50);
  try {
    const docs = (await (await fetch(`${env.app.url}/docs/json`)).json()) as { paths: Record<string, unknown> };
    for (const path of Object.keys(docs.paths)) assert.ok(readme.includes(path), `${path} is documented`);
    const metrics = await (await fetch(`${env.app.url}/metrics`)).text();
    for (const [, name] of metrics.matchAll(/^# TYPE (flowkeeper_\w+)/gm)) assert.ok(readme.includes(name), `${name} is documented`);
  } finally {
    await env.stop();
  }
});

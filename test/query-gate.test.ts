import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueryGate } from '../src/query/gate.js';
import type { QueryService } from '../src/store/sqlite/queries.js';
import type { FlowkeeperError } from '../src/errors.js';
import { withSimAndApp } from './helpers/harness.js';

test('the query gate refuses heavy queries once they have used their share of the event loop, then recovers', () => {
  let now = 0;
  const gate = new QueryGate(2000, 0.5, () => now);
  for (let i = 0; i < 100; i++) {
    gate.admit();
    gate.spent(QueryGate.LIGHT_MS);
    now += 1;
  }
  gate.admit(); // light queries never add up
  gate.spent(2000);
  now += 10;
  gate.admit(); // one heavy query (within one budget) is fine
  gate.spent(2000);
  now += 10;
  assert.throws(() => gate.admit(), (err: FlowkeeperError) => err.code === 'FLOWKEEPER_ERR_BUSY' && err.status === 429 && (err.retryAfterSeconds ?? 0) >= 1);
  now += 4000; // drains at half of wall-clock time
  gate.admit();
});

test('without query threads (--query-workers 0) a saturated gate answers 429 with Retry-After on every query route while health stays up', async () => {
  await withSimAndApp(async ({ app }) => {
    (app.inline as QueryService).gate!.spent(60_000);
    for (const path of ['/api/v1/flows?since=1h', '/api/v1/aggregate?group_by=verdict&since=1h', '/api/v1/drops?since=1h']) {
      const res = await fetch(`${app.url}${path}`);
      assert.equal(res.status, 429, path);
      assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
      assert.equal(((await res.json()) as { error: string }).error, 'FLOWKEEPER_ERR_BUSY');
    }
    assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${app.url}/api/v1/status`)).status, 200);
  }, { args: ['--query-workers', '0'] });
});

test('aggregates answered from rollups reach back as far as rollups are kept; raw ones stop at --query-max-range', async () => {
  await withSimAndApp(async ({ app }) => {
    const rollup = await fetch(`${app.url}/api/v1/aggregate?group_by=verdict&since=720h`);
    assert.equal(rollup.status, 200, 'group_by=verdict over 30 days comes from rollups');
    assert.equal((await fetch(`${app.url}/api/v1/drops?since=720h`)).status, 200);
    assert.equal((await fetch(`${app.url}/api/v1/aggregate?group_by=source_label:app&since=720h`)).status, 200, 'label groupings come from rollups');
    const raw = await fetch(`${app.url}/api/v1/aggregate?group_by=node&since=720h`);
    assert.equal(raw.status, 400);
    const body = (await raw.json()) as { parameter: string; message: string };
    assert.equal(body.parameter, 'since');
    assert.match(body.message, /needs raw flows .*--query-max-range/);
    assert.equal((await fetch(`${app.url}/api/v1/aggregate?group_by=verdict&since=1000h`)).status, 400, 'beyond --rollup-retention');
  });
});

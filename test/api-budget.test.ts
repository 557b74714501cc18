import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_TIME, flowId, parseNdjson, populatedApp } from './helpers/populated.js';
import type { Populated } from './helpers/populated.js';

// A tiny query budget: every query hits it, as a huge or hostile one would on a big store.
let env: Populated;
before(async () => {
  env = await populatedApp(6000, ['--query-budget', '1ms']);
});
after(async () => {
  await env.stop();
});

test('a flow query out of budget returns what it found and a cursor; following it yields every flow once', async () => {
  const want = env.records.filter((f) => f.verdict === 'DROPPED').map(flowId).sort();
  const seen: string[] = [];
  let cursor: string | null = null;
  let truncatedPages = 0;
  for (let i = 0; i < 10_000; i++) {
    const res = await fetch(`${env.app.url}/api/v1/flows?verdict=DROPPED&since=${ALL_TIME.since}&order=asc&limit=10000${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(res.status, 200);
    seen.push(...parseNdjson(await res.text()).map(flowId));
    if (res.headers.get('x-flowkeeper-truncated') === 'true') truncatedPages++;
    cursor = res.headers.get('x-next-cursor');
    if (!cursor) break;
  }
  assert.ok(truncatedPages > 0, 'the budget was hit');
  assert.deepEqual(seen.sort(), want);
});

test('a raw aggregate out of budget fails with 422 and says how to narrow it', async () => {
  const res = await fetch(`${env.app.url}/api/v1/aggregate?group_by=source_label:app&since=${ALL_TIME.since}`);
  assert.equal(res.status, 422);
  const body = (await res.json()) as { error: string; message: string };
  assert.equal(body.error, 'FLOWKEEPER_ERR_TOO_EXPENSIVE');
  assert.match(body.message, /narrow since\/until/);
  const rollup = await fetch(`${env.app.url}/api/v1/aggregate?group_by=verdict&since=${ALL_TIME.since}`);
  assert.equal(rollup.status, 200, 'rollup aggregates are cheap and still answer');
  assert.equal((await fetch(`${env.app.url}/healthz`)).status, 200);
});

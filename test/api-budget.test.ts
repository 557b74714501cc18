import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_TIME, flowId, parseNdjson, populatedApp } from './helpers/populated.js';
import type { Populated } from './helpers/populated.js';
import { openDatabase } from '../src/store/sqlite/sqlite.js';
import { FlowReader } from '../src/store/sqlite/reader.js';
import { QueryService } from '../src/store/sqlite/queries.js';
import { FilterSet } from '../src/query/filter.js';
import { parseGroupBy } from '../src/query/aggregate.js';
import { parseTime } from '../src/query/time.js';
import type { FlowkeeperError } from '../src/errors.js';

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
    assert.equal(res.status, 200, res.status === 200 ? '' : await res.text());
    seen.push(...parseNdjson(await res.text()).map(flowId));
    if (res.headers.get('x-flowkeeper-truncated') === 'true') truncatedPages++;
    cursor = res.headers.get('x-next-cursor');
    if (!cursor) break;
  }
  assert.ok(truncatedPages > 0, 'the budget was hit');
  assert.deepEqual(seen.sort(), want);
});

test('a raw aggregate out of budget fails with 422 and says how to narrow it', async () => {
  const res = await fetch(`${env.app.url}/api/v1/aggregate?group_by=node&since=${ALL_TIME.since}`);
  assert.equal(res.status, 422);
  const body = (await res.json()) as { error: string; message: string };
  assert.equal(body.error, 'FLOWKEEPER_ERR_TOO_EXPENSIVE');
  assert.match(body.message, /narrow since\/until/);
  // One rollup chunk (the first always runs) answers even at this budget.
  const rollup = await fetch(`${env.app.url}/api/v1/aggregate?group_by=verdict&since=30m`);
  assert.equal(rollup.status, 200, 'a short rollup aggregate still answers');
  assert.equal((await fetch(`${env.app.url}/healthz`)).status, 200);
});

test('rollup aggregates obey the budget too: a long range past the deadline fails with 422', () => {
  const db = openDatabase(env.dbPath, { readonly: true });
  try {
    // Budget 0: the first chunk of minutes runs, the next check is past the deadline.
    const engine = new QueryService(db, new FlowReader(db), 0);
    const years = { since: parseTime(ALL_TIME.since, 'since'), until: parseTime('now', 'until') };
    assert.throws(
      () => engine.aggregate({ filters: FilterSet.parse({}), dims: parseGroupBy('verdict'), ...years, bucketMinutes: null, top: 10 }),
      (err: FlowkeeperError) => err.code === 'FLOWKEEPER_ERR_TOO_EXPENSIVE' && /query time budget/.test(err.message),
    );
  } finally {
    db.close();
  }
});

test('an aggregate answer is capped in points and in groups counted (422 naming what to change)', () => {
  const db = openDatabase(env.dbPath, { readonly: true });
  try {
    const range = { since: parseTime(ALL_TIME.since, 'since'), until: parseTime('now', 'until') };
    const request = { filters: FilterSet.parse({}), dims: parseGroupBy('destination_port'), ...range, bucketMinutes: 1, top: 1000 };
    const roomy = new QueryService(db, new FlowReader(db), 60_000);
    const answer = roomy.aggregate(request);
    const points = answer.series!.reduce((n, b) => n + b.groups.length, 0);
    assert.ok(points > 20, `the store has ${points} points`);
    const fewPoints = new QueryService(db, new FlowReader(db), 60_000, { maxPoints: 20, maxEntries: 1_000_000, rawMaxRangeSeconds: 1e10 });
    assert.throws(() => fewPoints.aggregate(request), (err: FlowkeeperError) => err.code === 'FLOWKEEPER_ERR_TOO_EXPENSIVE' && err.parameter === 'bucket' && /more than 20/.test(err.message));
    const fewEntries = new QueryService(db, new FlowReader(db), 60_000, { maxPoints: 1_000_000, maxEntries: 20, rawMaxRangeSeconds: 1e10 });
    assert.throws(() => fewEntries.aggregate(request), (err: FlowkeeperError) => err.code === 'FLOWKEEPER_ERR_TOO_EXPENSIVE' && err.parameter === 'group_by');
  } finally {
    db.close();
  }
});

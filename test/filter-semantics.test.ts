import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowRecord } from '../src/flows/record.js';
import { FilterSet } from '../src/query/filter.js';
import { ALL_TIME, flowId, parseNdjson, populatedApp } from './helpers/populated.js';
import type { Populated } from './helpers/populated.js';
import { CASES } from './helpers/filter-cases.js';
import type { Case, F } from './helpers/filter-cases.js';

/**
 * Every FlowFilter field, on real fixture flows plus simulator traffic: the
 * in-memory predicates and the SQL the store runs must both give exactly the
 * flows an independent, literal reading of Hubble's semantics selects.
 */

let env: Populated;
before(async () => {
  env = await populatedApp(3000);
});
after(async () => {
  await env.stop();
});

async function viaApi(body: Case['body']): Promise<FlowRecord[]> {
  const res = await fetch(`${env.app.url}/api/v1/flows/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, ...ALL_TIME, limit: 10_000, order: 'asc' }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return parseNdjson(await res.text());
}

for (const c of CASES) {
  test(`filter: ${c.name}`, async () => {
    const want = env.records.filter((f) => c.expect(f as F)).map(flowId).sort();
    if (!c.allowEmpty) assert.ok(want.length > 0, 'the case selects something');
    if (c.name !== 'empty filter matches everything') assert.ok(want.length < env.records.length, 'the case leaves something out');
    const set = FilterSet.parse(c.body);
    const inMemory = env.records.filter((f) => set.match(f)).map(flowId).sort();
    assert.deepEqual(inMemory, want, 'in-memory predicates');
    const stored = (await viaApi(c.body)).map(flowId).sort();
    assert.deepEqual(stored, want, 'SQL over the store');
  });
}

test('filter: http_header is matched (JS re-check path) and agrees with SQL candidates', async () => {
  const withHeader = env.records.find((f) => ((f as F).l7?.http?.headers ?? []).length > 0) as F;
  const h = withHeader.l7.http.headers[0];
  const body = { whitelist: [{ http_header: [{ key: h.key, value: h.value }] }] };
  const got = (await viaApi(body)).map(flowId);
  const want = env.records.filter((f) => ((f as F).l7?.http?.headers ?? []).some((x: F) => x.key === h.key && x.value === h.value)).map(flowId);
  assert.deepEqual(got.sort(), want.sort());
  assert.ok(want.length >= 1);
});

test('HTTP filters are refused next to a non-L7 event type, as in Hubble', async () => {
  const res = await fetch(`${env.app.url}/api/v1/flows/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ whitelist: [{ http_status_code: ['5+'], event_type: [{ type: 4 }] }] }),
  });
  assert.equal(res.status, 400);
  const err = (await res.json()) as { error: string; parameter: string };
  assert.equal(err.error, 'FLOWKEEPER_ERR_BAD_FILTER');
  assert.equal(err.parameter, 'event_type');
});

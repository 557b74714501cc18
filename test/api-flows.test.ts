import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_TIME, flowId, parseNdjson, populatedApp } from './helpers/populated.js';
import type { Populated } from './helpers/populated.js';
import type { FlowRecord } from '../src/flows/record.js';

let env: Populated;
before(async () => {
  env = await populatedApp(4000);
});
after(async () => {
  await env.stop();
});

async function get(path: string): Promise<Response> {
  return fetch(`${env.app.url}${path}`);
}

test('GET shorthands follow hubble observe: --namespace matches either side, --not excludes', async () => {
  const res = await get(`/api/v1/flows?namespace=payments&not_to_namespace=payments&since=${ALL_TIME.since}&limit=10000`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/x-ndjson/);
  const flows = parseNdjson(await res.text());
  const src = (f: FlowRecord): string => String((f.source as { namespace?: string } | undefined)?.namespace ?? '');
  const dst = (f: FlowRecord): string => String((f.destination as { namespace?: string } | undefined)?.namespace ?? '');
  const want = env.records.filter((f) => (src(f) === 'payments' || dst(f) === 'payments') && dst(f) !== 'payments');
  assert.ok(want.length > 0);
  assert.deepEqual(flows.map(flowId).sort(), want.map(flowId).sort());
});

test('GET verdict + namespace + type + http_status shorthands', async () => {
  const res = await get(`/api/v1/flows?verdict=DROPPED&from_namespace=frontend&type=policy-verdict&since=${ALL_TIME.since}&limit=10000`);
  const flows = parseNdjson(await res.text());
  assert.ok(flows.length > 0);
  for (const f of flows) {
    assert.equal(f.verdict, 'DROPPED');
    assert.equal((f.event_type as { type: number }).type, 5);
    assert.equal((f.source as { namespace: string }).namespace, 'frontend');
  }
  const http = parseNdjson(await (await get(`/api/v1/flows?http_status=5%2B&since=${ALL_TIME.since}&limit=10000`)).text());
  assert.ok(http.length > 0);
  for (const f of http) assert.match(String((f.l7 as { http: { code: number } }).http.code), /^5/);
  // The simulator's clients also get 4xx answers (404, 422), as real services return.
  const client = parseNdjson(await (await get(`/api/v1/flows?http_status=4%2B&since=${ALL_TIME.since}&limit=10000`)).text());
  assert.ok(client.length > 0);
  for (const f of client) assert.match(String((f.l7 as { http: { code: number } }).http.code), /^4\d\d$/);
});

test('pagination with cursors never skips or repeats a flow, in both orders', async () => {
  for (const order of ['desc', 'asc'] as const) {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(`/api/v1/flows?protocol=tcp&since=${ALL_TIME.since}&limit=97&order=${order}${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(res.status, 200);
      const page = parseNdjson(await res.text());
      seen.push(...page.map(flowId));
      cursor = res.headers.get('x-next-cursor');
      pages++;
      // Time order within and across pages.
      // RFC3339 fractions have 0-9 digits; pad them so strings sort as times.
      const times = page.map((f) => f.time.replace(/(?:\.(\d+))?Z$/, (_, frac: string | undefined) => `.${(frac ?? '').padEnd(9, '0')}Z`));
      const sorted = [...times].sort();
      assert.deepEqual(times, order === 'asc' ? sorted : sorted.reverse());
    } while (cursor && pages < 1000);
    const want = env.records.filter((f) => (f.l4 as { TCP?: unknown } | undefined)?.TCP !== undefined).map(flowId).sort();
    assert.ok(pages > 5, 'several pages');
    assert.deepEqual([...seen].sort(), want, `${order}: every flow exactly once`);
  }
});

test('a cursor is bound to its filters and order, and carries its range', async () => {
  const first = await get(`/api/v1/flows?verdict=DROPPED&since=${ALL_TIME.since}&limit=3`);
  const cursor = first.headers.get('x-next-cursor');
  assert.ok(cursor);
  for (const [query, why] of [
    [`cursor=${cursor}`, 'without its filters'],
    [`verdict=FORWARDED&cursor=${cursor}`, 'with other filters'],
  ]) {
    const res = await get(`/api/v1/flows?${query}`);
    assert.equal(res.status, 400, why);
    const body = (await res.json()) as { parameter: string; message: string };
    assert.equal(body.parameter, 'cursor');
    assert.match(body.message, /other filters/);
  }
  const wrongOrder = await get(`/api/v1/flows?verdict=DROPPED&order=asc&cursor=${cursor}`);
  assert.equal(wrongOrder.status, 400);
  // The range comes from the cursor: a different since does not move the page.
  const a = await (await get(`/api/v1/flows?verdict=DROPPED&cursor=${cursor}&limit=5`)).text();
  const b = await (await get(`/api/v1/flows?verdict=DROPPED&since=1m&cursor=${cursor}&limit=5`)).text();
  assert.equal(a, b);
  assert.equal(parseNdjson(a).length, 5);
  assert.ok(parseNdjson(a).every((f) => f.verdict === 'DROPPED'));
});

test('summary format is compact JSON with a next cursor', async () => {
  const res = await get(`/api/v1/flows?verdict=DROPPED&since=${ALL_TIME.since}&limit=5&format=summary`);
  const body = (await res.json()) as { flows: Record<string, unknown>[]; next_cursor: string | null };
  assert.equal(body.flows.length, 5);
  assert.ok(body.next_cursor);
  for (const f of body.flows) {
    assert.equal(f.verdict, 'DROPPED');
    assert.ok(typeof f.drop_reason === 'string' && f.drop_reason.length > 0);
    assert.ok(f.source && f.destination);
  }
});

test('bad parameters get 400 naming the parameter', async () => {
  const cases: [string, string][] = [
    ['/api/v1/flows?verdict=MAYBE', 'verdict'],
    ['/api/v1/flows?limit=0', 'limit'],
    ['/api/v1/flows?limit=abc', 'limit'],
    ['/api/v1/flows?since=yesterday-ish', 'since'],
    ['/api/v1/flows?order=sideways', 'order'],
    // Errors name the parameter as given, not the FlowFilter field behind it.
    ['/api/v1/flows?ip=10.0.0.0/33', 'ip'],
    ['/api/v1/flows?not_ip=x', 'not_ip'],
    ['/api/v1/flows?to_ip=10.0.0.0/99', 'to_ip'],
    ['/api/v1/flows?to_port=99999', 'to_port'],
    ['/api/v1/flows?http_status=5xx', 'http_status'],
    ['/api/v1/flows?label=app===', 'label'],
    ['/api/v1/flows?until=9999999999999', 'until'],
    ['/api/v1/flows?protocol=carrier-pigeon', 'protocol'],
    ['/api/v1/flows?type=teleport', 'type'],
    ['/api/v1/flows?colour=blue', 'colour'],
    ['/api/v1/flows?cursor=garbage', 'cursor'],
    ['/api/v1/flows?label=%3D%3Dbad', 'label'],
    ['/api/v1/flows?http_path=(a', 'http_path'],
    ['/api/v1/flows?since=2000-01-01T00:00:00Z&until=2020-06-01T00:00:00Z', 'since'],
    ['/api/v1/aggregate?group_by=colour', 'group_by'],
    ['/api/v1/aggregate?group_by=verdict&bucket=90s', 'bucket'],
  ];
  for (const [path, parameter] of cases) {
    const res = await get(path);
    const body = (await res.json()) as { error: string; message: string; parameter: string };
    assert.equal(res.status, 400, `${path}: ${JSON.stringify(body)}`);
    assert.equal(body.parameter, parameter, `${path}: ${body.message}`);
    assert.ok(body.message.length > 0);
  }
  const post = await fetch(`${env.app.url}/api/v1/flows/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"whitelist":[{"verdict":["NOPE"]}]}' });
  assert.equal(post.status, 400);
  const notJson = await fetch(`${env.app.url}/api/v1/flows/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"whitelist":' });
  assert.equal(notJson.status, 400);
  const unknownField = await fetch(`${env.app.url}/api/v1/flows/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"whitelist":[{"source_podd":["x/"]}]}' });
  assert.equal(unknownField.status, 400);
  assert.match(((await unknownField.json()) as { message: string }).message, /source_podd/);
  const huge = await fetch(`${env.app.url}/api/v1/flows/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ whitelist: [{ source_pod: Array.from({ length: 40_000 }, (_, i) => `ns/p${i}`) }] }) });
  assert.equal(huge.status, 413);
  assert.equal((await get('/healthz')).status, 200, 'still serving');
});

test('a hostile regex does not stall the process', async () => {
  const started = Date.now();
  const evil = encodeURIComponent('^(a+)+$');
  const res = await get(`/api/v1/flows?http_path=${evil}&since=${ALL_TIME.since}`);
  assert.equal(res.status, 200);
  const backref = await get(`/api/v1/flows?http_path=${encodeURIComponent('(a)\\1')}`);
  assert.equal(backref.status, 400, 'backreferences are not RE2 and are refused');
  assert.ok(Date.now() - started < 5000);
});

test('status reports relays, ingest and store', async () => {
  const body = (await (await get('/api/v1/status')).json()) as { relays: { connected: boolean; nodes: { name: string; state: string }[]; server: { version: string } }[]; store: { flows: number; oldest: string }; version: string };
  assert.equal(body.relays[0].connected, true);
  // From the relay's ServerStatus and GetNodes.
  assert.equal(body.relays[0].server.version, 'flowkeeper-sim');
  assert.deepEqual(body.relays[0].nodes.map((n) => n.state), ['NODE_CONNECTED', 'NODE_CONNECTED', 'NODE_CONNECTED']);
  assert.equal(body.store.flows, env.records.length);
  assert.ok(body.store.oldest.startsWith('2021-'));
  assert.ok(body.version);
  const docs = (await (await get('/docs/json')).json()) as { paths: Record<string, unknown> };
  for (const p of ['/api/v1/flows', '/api/v1/flows/query', '/api/v1/aggregate', '/api/v1/drops', '/api/v1/policy-denials', '/api/v1/status', '/api/v1/flows/stream']) {
    assert.ok(docs.paths[p], `OpenAPI documents ${p}`);
  }
  const page = await get('/docs/static/index.html');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
});

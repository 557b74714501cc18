import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_TIME, populatedApp } from './helpers/populated.js';
import type { Populated } from './helpers/populated.js';

// Inputs whose naive handling takes seconds to minutes (quadratic selector parsing,
// backtracking globs): each must get a quick answer, and /healthz must stay responsive.
// "Quick" is the query budget (--query-budget, 2 s by default): a scan stops there and
// answers with what it found, so an answer may take the budget plus the time to send it.
const QUERY_BUDGET_MS = 2000;
const ANSWER_MARGIN_MS = 1500;
let env: Populated;
before(async () => {
  env = await populatedApp(500);
});
after(async () => {
  await env.stop();
});

async function timed(path: string, init?: RequestInit): Promise<{ status: number; ms: number; body: string }> {
  const started = performance.now();
  const res = await fetch(`${env.app.url}${path}`, init);
  const body = await res.text();
  return { status: res.status, ms: performance.now() - started, body };
}

function post(body: unknown): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

const SINCE = `since=${ALL_TIME.since}`;
const ATTACKS: [string, string, RequestInit | undefined][] = [
  ['label selector of 100,000 spaces', '/api/v1/flows/query', post({ whitelist: [{ source_label: [`a${' '.repeat(100_000)}in (b)x`] }], since: ALL_TIME.since })],
  ['label selector of 4,000 spaces (under the length bound)', '/api/v1/flows/query', post({ whitelist: [{ source_label: [`a${' '.repeat(4000)}=b`] }], since: ALL_TIME.since })],
  ['label selector with 2,000 requirements', '/api/v1/flows/query', post({ whitelist: [{ source_label: [Array.from({ length: 400 }, (_, i) => `k${i}`).join(',')] }], since: ALL_TIME.since })],
  ['node_name glob with many stars', `/api/v1/flows?node_name=${'a*'.repeat(100)}b&${SINCE}`, undefined],
  ['node_name glob at the star limit', `/api/v1/flows?node_name=${'k*'.repeat(16)}x&${SINCE}`, undefined],
  ['fqdn glob with many stars', `/api/v1/flows?fqdn=${'a*'.repeat(120)}&${SINCE}`, undefined],
  ['fqdn glob at the length limit', `/api/v1/flows?fqdn=${'*.a'.repeat(5)}${'b'.repeat(240)}&${SINCE}`, undefined],
  ['CEL: nested comprehensions over a long literal (a million steps per flow)', '/api/v1/flows/query',
    post({ whitelist: [{ experimental: { cel_expression: [`[${'1,'.repeat(999)}1].all(x, [${'1,'.repeat(999)}1].all(y, x == y))`] } }], since: ALL_TIME.since })],
  ['CEL: comprehensions over the flow\'s own lists, nested three deep', `/api/v1/flows?cel_expression=${encodeURIComponent('_flow.source.labels.all(a, _flow.source.labels.all(b, _flow.destination.labels.all(c, a != c || b != c)))')}&${SINCE}`, undefined],
  ['CEL alone over every stored flow', `/api/v1/flows?limit=10000&cel_expression=${encodeURIComponent('_flow.source.labels.exists(l, l.matches("^k8s:app=nomatch$"))')}&${SINCE}`, undefined],
  ['http_path regex that backtracks catastrophically in a backtracking engine', `/api/v1/flows?http_path=${encodeURIComponent('^(a+)+$')}&${SINCE}`, undefined],
];

for (const [name, path, init] of ATTACKS) {
  test(`hostile input answers quickly with 200 or a 400 naming the parameter: ${name}`, async () => {
    const [answer, health] = await Promise.all([
      timed(path, init),
      new Promise<{ status: number; ms: number }>((resolve) => setTimeout(() => resolve(timed('/healthz')), 5)),
    ]);
    assert.ok(answer.status === 200 || answer.status === 400, `status ${answer.status}: ${answer.body.slice(0, 300)}`);
    if (answer.status === 400) {
      const body = JSON.parse(answer.body) as { error: string; message: string; parameter: string };
      assert.match(body.error, /^FLOWKEEPER_ERR_BAD_/);
      assert.ok(body.parameter, 'names the parameter');
      assert.ok(body.message.length < 600, 'does not echo the whole input back');
    }
    assert.equal(health.status, 200);
    assert.ok(health.ms < 1000, `/healthz answered in ${Math.round(health.ms)} ms`);
    assert.ok(answer.ms < QUERY_BUDGET_MS + ANSWER_MARGIN_MS, `answered in ${Math.round(answer.ms)} ms (query budget ${QUERY_BUDGET_MS} ms)`);
  });
}

test('a label selector beyond the length bound is refused, naming the field', async () => {
  const res = await timed('/api/v1/flows/query', post({ whitelist: [{ destination_label: [' '.repeat(5000) + 'a=b'] }] }));
  assert.equal(res.status, 400);
  assert.match(res.body, /longer than 4096/);
  assert.match(res.body, /destination_label/);
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { App } from '../src/app.js';
import type { FlowRecord } from '../src/flows/record.js';
import { ROOT_DIR } from '../src/paths.js';
import type { ReplayReport } from '../src/policy/replay.js';
import type { Suggestion } from '../src/policy/run.js';
import { MAX_HTTP_RULES, MAX_WORLD_PEERS, suggestPolicies } from '../src/policy/suggest.js';
import { selectorFor, workloadLabels } from '../src/policy/workload-selector.js';
import type { FlowClasses } from '../src/store/flow-classes.js';
import { P, flow, serveCorpus, world } from './helpers/policy-corpus.js';

/**
 * flowkeeper policy suggest over a real store: the hand-made corpus of the
 * replay tests goes through the relay into SQLite; the suggested policies are
 * read back as YAML, checked rule by rule, and replayed to show the proof
 * holds, and that it fails when a rule the traffic needs is taken out.
 */

let app: App;
let stop: (() => Promise<void>) | undefined;

before(async () => {
  ({ app, stop } = await serveCorpus());
});

after(async () => {
  await stop?.();
});

async function suggest(query: string): Promise<Suggestion> {
  const res = await fetch(`${app.url}/api/v1/policies/suggest?since=1h&${query}`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as Suggestion;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The suggested policy documents by name. */
function policies(s: Suggestion): Map<string, Json> {
  return new Map(parseAllDocuments(s.yaml).map((d) => d.toJS() as Json).map((p) => [p.metadata.name as string, p]));
}

async function replay(yaml: string, query = 'since=1h&top=1000'): Promise<ReplayReport> {
  const res = await fetch(`${app.url}/api/v1/policies/replay?${query}`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as ReplayReport;
}

test('team-a: the api admits the web pods of three namespaces on 8080 and reaches DNS, named and unnamed world addresses; the proof holds', async () => {
  const s = await suggest('namespace=team-a');
  assert.deepEqual(s.policies.map((p) => p.name), ['api-least-privilege', 'web-least-privilege']);
  assert.equal(s.proven, true, JSON.stringify(s.proof.newlyDenied));
  const api = policies(s).get('api-least-privilege')!;
  assert.equal(api.metadata.namespace, 'team-a');
  assert.deepEqual(api.spec.endpointSelector, { matchLabels: { app: 'api' } });
  // One rule: the three web workloads share their port; a peer of another namespace is named with it.
  assert.deepEqual(api.spec.ingress, [{
    fromEndpoints: [
      { matchLabels: { app: 'web' } },
      { matchLabels: { app: 'web', 'k8s:io.kubernetes.pod.namespace': 'team-b' } },
      { matchLabels: { app: 'web', 'k8s:io.kubernetes.pod.namespace': 'team-c' } },
    ],
    toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }],
  }]);
  assert.deepEqual(api.spec.egress, [
    { toCIDR: ['198.51.100.23/32'], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] },
    {
      toEndpoints: [{ matchLabels: { app: 'kube-dns', 'k8s:io.kubernetes.pod.namespace': 'kube-system' } }],
      toPorts: [{ ports: [{ port: '53', protocol: 'UDP' }], rules: { dns: [{ matchName: 'api.github.com' }, { matchName: 'evil.example.org' }] } }],
    },
    // Named by Hubble (api.stripe.com) or by the DNS answer in the history (api.github.com).
    { toFQDNs: [{ matchName: 'api.github.com' }, { matchName: 'api.stripe.com' }], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] },
  ]);
  // web was never reached: it gets an ingress default deny.
  const web = policies(s).get('web-least-privilege')!;
  assert.deepEqual(web.spec.ingress, [{}]);
  assert.match(s.yaml, /no ingress was allowed in the range/);
  // team-c's web was also denied once on the same connection: the suggestion allows it, and the proof says so.
  assert.equal(s.proof.summary['newly-allowed'], 1);
  assert.equal(s.proof.summary['newly-denied'], 0);
});

test('the proof is a real replay: the suggestion replayed alone denies nothing, and without the team-b peer it denies that traffic', async () => {
  const s = await suggest('namespace=team-a');
  const same = await replay(s.yaml, 'since=1h&top=1000&namespace=team-a');
  assert.equal(same.summary['newly-denied'], 0);
  assert.equal(same.flows, s.proof.flows);
  const narrowed = s.yaml.replace(/\n\s+- matchLabels:\n\s+app: web\n\s+k8s:io.kubernetes.pod.namespace: team-b/, '');
  assert.notEqual(narrowed, s.yaml, 'the team-b peer was taken out');
  const broken = await replay(narrowed, 'since=1h&top=1000&namespace=team-a');
  assert.equal(broken.summary['newly-denied'], 1);
  assert.deepEqual(broken.newlyDenied.map((g) => `${g.source} → ${g.destination} ${g.port}`), ['team-b/web → team-a/api TCP/8080']);
});

test('L7: the deathstar admits exactly the HTTP requests seen; the tiefighter\'s egress stays L3/L4 toward a pod', async () => {
  const s = await suggest('namespace=empire');
  assert.equal(s.proven, true);
  const docs = policies(s);
  assert.deepEqual(docs.get('deathstar-least-privilege')!.spec.ingress, [{
    fromEndpoints: [{ matchLabels: { app: 'tiefighter' } }],
    toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ method: 'POST', path: '/v1/request-landing' }, { method: 'PUT', path: '/v1/exhaust-port' }] } }],
  }]);
  assert.deepEqual(docs.get('tiefighter-least-privilege')!.spec.egress, [
    { toCIDR: ['192.0.2.99/32'], toPorts: [{ ports: [{ port: '8443', protocol: 'TCP' }] }] },
    { toEndpoints: [{ matchLabels: { app: 'deathstar' } }], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] },
  ]);
  // Taking the exhaust port request out is caught by the proof.
  const strict = s.yaml.replace(/\n\s+- method: PUT\n\s+path: \/v1\/exhaust-port/, '');
  assert.notEqual(strict, s.yaml);
  const r = await replay(strict, 'since=1h&top=1000&namespace=empire');
  assert.deepEqual(r.newlyDenied.map((g) => g.l7), ['PUT /v1/exhaust-port']);
});

test('ICMP types get a rule of their own beside the ports of the same peer; --workload limits the policies written', async () => {
  const s = await suggest('namespace=team-b&workload=web');
  assert.equal(s.proven, true);
  const web = policies(s).get('web-least-privilege')!;
  assert.deepEqual(web.spec.egress, [
    { toCIDR: ['192.0.2.10/32', '192.0.2.200/32', '203.0.113.77/32'], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] },
    { toCIDR: ['192.0.2.10/32'], icmps: [{ fields: [{ type: 8, family: 'IPv4' }, { type: 13, family: 'IPv4' }] }] },
    { toEndpoints: [{ matchLabels: { app: 'api', 'k8s:io.kubernetes.pod.namespace': 'team-a' } }], toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }] },
  ]);
  const missing = await suggest('namespace=team-b&workload=nope');
  assert.deepEqual(missing.policies, []);
  assert.equal(missing.proven, false);
  assert.match(missing.warnings.join('\n'), /team-b\/nope: not seen/);
});

test('suggest refuses requests it cannot answer well: no namespace, filters that would hide traffic, bad workload names', async () => {
  const cases: [string, RegExp][] = [
    ['since=1h', /namespace: required/],
    ['namespace=team-a&verdict=DROPPED', /verdict: not a parameter of suggest/],
    ['namespace=team-a&workload=%2Fetc', /workload: .* is not a workload name/],
    ['namespace=team-a&since=yesterday-ish', /since/],
  ];
  for (const [query, message] of cases) {
    const res = await fetch(`${app.url}/api/v1/policies/suggest?${query}`);
    assert.equal(res.status, 400, query);
    assert.match(((await res.json()) as { message: string }).message, message, query);
  }
});

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT_DIR, 'dist', 'src', 'cli.js'), 'policy', 'suggest', '--server', app.url, '--since', '1h', ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr });
    });
  });
}

test('flowkeeper policy suggest writes YAML to stdout and the proof to stderr; exit 0 when proven, 2 when there is nothing to suggest', async () => {
  const ok = await runCli(['-n', 'empire']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(parseAllDocuments(ok.stdout).length, 2);
  assert.match(ok.stderr, /PROVEN: nothing that was allowed in the range would be denied/);
  const json = await runCli(['-n', 'empire', '-o', 'json']);
  assert.equal((JSON.parse(json.stdout) as Suggestion).proven, true);
  const none = await runCli(['-n', 'no-such-namespace']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no policy to suggest/);
  const filtered = await runCli(['-n', 'empire', '--verdict', 'DROPPED']);
  assert.equal(filtered.code, 2);
  assert.match(filtered.stderr, /verdict: not a parameter of suggest/);
  const usage = await runCli([]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /needs the namespace: -n NAMESPACE/);
});

/** Flow classes of one flow each, for the pure suggestion logic. */
function classes(flows: FlowRecord[]): FlowClasses {
  const t = { seconds: 1, nanos: 0 };
  return { classes: flows.map((f, i) => ({ key: String(i), sample: f, flows: 1, first: t, last: t })), flows: flows.length, truncated: null, readUntil: null };
}

const RANGE = { since: 'a', until: 'b' };

test('many distinct requests or world addresses widen the rule, and say so', () => {
  const paths = Array.from({ length: MAX_HTTP_RULES + 1 }, (_, i) => flow({ src: P.tiefighter, dst: P.deathstar, port: 80, http: { method: i % 2 ? 'GET' : 'POST', url: `http://deathstar/item/${i}?x=${i}` } }).flow as FlowRecord);
  const http = suggestPolicies(classes(paths), 'empire', new Set(['deathstar']), RANGE);
  const ingress = (http.documents[0].policy.spec as Json).ingress as Json[];
  assert.deepEqual(ingress[0].toPorts[0].rules, { http: [{ method: 'GET' }, { method: 'POST' }] });
  assert.match(http.warnings.join('\n'), /33 distinct HTTP requests; the rule allows any path for the 2 methods seen/);
  const addresses = Array.from({ length: MAX_WORLD_PEERS + 1 }, (_, i) => flow({ src: P.bWeb, dst: world(`198.18.0.${i + 1}`), port: 443, direction: 'EGRESS' }).flow as FlowRecord);
  const wide = suggestPolicies(classes(addresses), 'team-b', null, RANGE);
  assert.deepEqual((wide.documents[0].policy.spec as Json).egress, [{ toEntities: ['world'], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] }]);
  assert.match(wide.warnings.join('\n'), /65 addresses and names outside the cluster/);
});

test('a query string seen on a path is allowed to vary; paths are matched literally', () => {
  const f = flow({ src: P.tiefighter, dst: P.deathstar, port: 80, http: { method: 'GET', url: 'http://deathstar/v1/a.b+c?page=2' } }).flow as FlowRecord;
  const d = suggestPolicies(classes([f]), 'empire', new Set(['deathstar']), RANGE);
  const ingress = (d.documents[0].policy.spec as Json).ingress as Json[];
  assert.deepEqual(ingress[0].toPorts[0].rules.http, [{ method: 'GET', path: '/v1/a\\.b\\+c(\\?.*)?' }]);
});

test('a workload is selected by its app label unless that also selects another workload; rollout labels never count', () => {
  const labels = (extra: string[]): string[] => ['k8s:io.kubernetes.pod.namespace=x', 'k8s:pod-template-hash=abc', ...extra];
  const api = [workloadLabels(labels(['k8s:app=api', 'k8s:tier=backend'])), workloadLabels(labels(['k8s:app=api', 'k8s:tier=backend', 'k8s:version=2']))];
  assert.deepEqual(selectorFor(api, new Map()), { matchLabels: { app: 'api' }, alsoSelects: [] });
  const canary = new Map([['x/api-canary', [workloadLabels(labels(['k8s:app=api', 'k8s:tier=canary']))]]]);
  assert.deepEqual(selectorFor(api, canary), { matchLabels: { app: 'api', tier: 'backend' }, alsoSelects: [] });
  assert.equal(selectorFor([workloadLabels(labels([]))], new Map()), null);
});

test('toFQDNs egress makes the pod\'s DNS lookups go through the proxy: a plain port-53 rule gains rules.dns, and no DNS at all is warned about', () => {
  const named = flow({ src: P.aApi, dst: world('52.84.12.33'), port: 443, names: ['api.stripe.com'], direction: 'EGRESS' }).flow as FlowRecord;
  const lookup = flow({ src: P.aApi, dst: P.dns, port: 53, proto: 'UDP', direction: 'EGRESS' }).flow as FlowRecord;
  const withDns = suggestPolicies(classes([named, lookup]), 'team-a', null, RANGE);
  const egress = (withDns.documents[0].policy.spec as Json).egress as Json[];
  assert.deepEqual(egress.find((r) => r.toEndpoints)?.toPorts, [{ ports: [{ port: '53', protocol: 'UDP' }], rules: { dns: [{ matchPattern: '*' }] } }]);
  assert.deepEqual(withDns.warnings, []);
  const without = suggestPolicies(classes([named]), 'team-a', null, RANGE);
  assert.match(without.warnings.join('\n'), /toFQDNs rules need the pod's DNS lookups to pass Cilium's DNS proxy/);
});

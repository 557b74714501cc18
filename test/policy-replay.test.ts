import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { App } from '../src/app.js';
import type { ReplayGroup, ReplayReport } from '../src/policy/replay.js';
import { tempDir } from './helpers/harness.js';
import { serveCorpus } from './helpers/policy-corpus.js';

/**
 * Policy replay over a real store: hand-made flows of known connections go
 * through the relay into SQLite, then real YAML policies of each kind are
 * replayed through POST /api/v1/policies/replay, and each connection's
 * predicted outcome and deciding rule are checked.
 */

let app: App;
let dbPath: string;
let stop: (() => Promise<void>) | undefined;

before(async () => {
  ({ app, dbPath, stop } = await serveCorpus());
});

after(async () => {
  await stop?.();
});

async function post(body: string | object, contentType = 'application/yaml', query = 'since=1h&top=1000'): Promise<Response> {
  return fetch(`${app.url}/api/v1/policies/replay?${query}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function replay(yaml: string, inForce?: string): Promise<ReplayReport> {
  const res = inForce === undefined ? await post(yaml) : await post({ policies: yaml, in_force: inForce }, 'application/json');
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as ReplayReport;
}

/** The one group for a connection (source → destination, port, L7), in whichever section it landed. */
function groupOf(r: ReplayReport, source: string, destination: string, port: string, l7 = ''): ReplayGroup {
  const all = [...r.newlyDenied, ...r.newlyAllowed, ...r.undecidable, ...r.unchanged];
  const found = all.filter((g) => g.source === source && g.destination === destination && g.port === port && g.l7 === l7);
  assert.equal(found.length, 1, `one group for ${source} → ${destination} ${port} ${l7}; groups: ${all.map((g) => `${g.source}→${g.destination} ${g.port} ${g.l7} [${g.change}]`).join('; ')}`);
  return found[0];
}

test('namespace isolation between teams (CNP): same namespace allowed by the rule, other teams newly denied by default deny', async () => {
  const r = await replay(`
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: isolate, namespace: team-a}
spec:
  endpointSelector: {}
  ingress:
    - fromEndpoints: [{}]
`);
  const same = groupOf(r, 'team-a/web', 'team-a/api', 'TCP/8080');
  assert.equal(same.change, 'unchanged');
  assert.match(same.decidedBy, /ingress: CiliumNetworkPolicy team-a\/isolate spec\.ingress\[0\]/);
  // The reply of that connection is judged as its request: same group, two flows.
  assert.equal(same.flows, 2);
  const other = groupOf(r, 'team-b/web', 'team-a/api', 'TCP/8080');
  assert.equal(other.change, 'newly-denied');
  assert.equal(other.decidedBy, 'ingress default deny (selected by CiliumNetworkPolicy team-a/isolate)');
  // team-c's flows: one observed allowed (newly denied), one observed denied (unchanged).
  const c = [...r.newlyDenied, ...r.unchanged].filter((g) => g.source === 'team-c/web');
  assert.deepEqual(c.map((g) => g.change).sort(), ['newly-denied', 'unchanged']);
  assert.equal(r.summary['newly-denied'], 2, 'only team-b\'s and team-c\'s allowed calls to team-a change; team-a\'s egress is not selected');
});

test('L7 allow-list: only POST /v1/request-landing reaches the deathstar; the exhaust port request is newly denied by the L7 rule', async () => {
  const r = await replay(`
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: rule1, namespace: empire}
spec:
  endpointSelector: {matchLabels: {app: deathstar}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: tiefighter}}]
      toPorts:
        - ports: [{port: "80", protocol: TCP}]
          rules:
            http: [{method: POST, path: /v1/request-landing}]
`);
  const landing = groupOf(r, 'empire/tiefighter', 'empire/deathstar', 'TCP/80', 'POST /v1/request-landing');
  assert.equal(landing.change, 'unchanged');
  assert.equal(landing.predicted, 'allowed');
  assert.match(landing.decidedBy, /ingress: CiliumNetworkPolicy empire\/rule1 spec\.ingress\[0\]/);
  const exhaust = groupOf(r, 'empire/tiefighter', 'empire/deathstar', 'TCP/80', 'PUT /v1/exhaust-port');
  assert.equal(exhaust.change, 'newly-denied');
  assert.equal(exhaust.decidedBy, 'ingress request refused by the L7 rules of CiliumNetworkPolicy empire/rule1 spec.ingress[0]');
  // The L3/L4 flow of the connection goes to the proxy: allowed.
  assert.equal(groupOf(r, 'empire/tiefighter', 'empire/deathstar', 'TCP/80').predicted, 'allowed');
});

const FQDN_POLICY = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-egress, namespace: team-a}
spec:
  endpointSelector: {matchLabels: {app: api}}
  egress:
    - toEndpoints:
        - matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, app: kube-dns}
      toPorts:
        - ports: [{port: "53", protocol: ANY}]
          rules:
            dns: [{matchPattern: "*.stripe.com"}, {matchName: api.github.com}]
    - toFQDNs:
        - matchPattern: "*.stripe.com"
        - matchName: api.github.com
      toPorts:
        - ports: [{port: "443"}]
`;

test('toFQDNs: names recorded by Hubble or learned from a DNS answer in the history decide; an address no name is known for is undecidable', async () => {
  const r = await replay(FQDN_POLICY);
  const stripe = groupOf(r, 'team-a/api', 'world api.stripe.com', 'TCP/443');
  assert.equal(stripe.predicted, 'allowed');
  assert.match(stripe.decidedBy, /egress: CiliumNetworkPolicy team-a\/api-egress spec\.egress\[1\]/);
  const github = groupOf(r, 'team-a/api', 'world api.github.com.', 'TCP/443');
  assert.equal(github.predicted, 'allowed', 'the DNS answer in the history names 140.82.121.4');
  const unnamed = groupOf(r, 'team-a/api', 'world 198.51.100.23', 'TCP/443');
  assert.equal(unnamed.change, 'undecidable');
  assert.match(unnamed.why ?? '', /DNS/);
  // DNS rules judge the queries themselves: api.github.com passes, evil.example.org is refused by the proxy.
  assert.equal(groupOf(r, 'team-a/api', 'kube-system/kube-dns', 'UDP/53', 'DNS api.github.com.').predicted, 'allowed');
  const evil = groupOf(r, 'team-a/api', 'kube-system/kube-dns', 'UDP/53', 'DNS evil.example.org.');
  assert.equal(evil.change, 'newly-denied');
  assert.match(evil.decidedBy, /egress request refused by the L7 rules of CiliumNetworkPolicy team-a\/api-egress spec\.egress\[0\]/);
});

test('entities, CIDR with except, ICMP types, and a deny rule that wins over an allow', async () => {
  const r = await replay(`
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-egress, namespace: team-b}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
    - toEntities: [cluster]
    - toCIDRSet:
        - cidr: 192.0.2.0/24
          except: [192.0.2.128/25]
      toPorts:
        - ports: [{port: "443", protocol: TCP}]
    - toEntities: [world]
      icmps:
        - fields: [{type: EchoRequest, family: IPv4}]
    - toCIDR: [203.0.113.0/24]
  egressDeny:
    - toCIDRSet: [{cidr: 203.0.113.64/26}]
`);
  assert.match(groupOf(r, 'team-b/web', 'team-a/api', 'TCP/8080').decidedBy, /egress: CiliumNetworkPolicy team-b\/web-egress spec\.egress\[0\]/);
  assert.match(groupOf(r, 'team-b/web', 'world 192.0.2.10', 'TCP/443').decidedBy, /spec\.egress\[1\]/);
  const excepted = groupOf(r, 'team-b/web', 'world 192.0.2.200', 'TCP/443');
  assert.equal(excepted.change, 'newly-denied');
  assert.equal(excepted.decidedBy, 'egress default deny (selected by CiliumNetworkPolicy team-b/web-egress)');
  assert.match(groupOf(r, 'team-b/web', 'world 192.0.2.10', 'ICMPv4 type 8').decidedBy, /spec\.egress\[2\]/);
  assert.equal(groupOf(r, 'team-b/web', 'world 192.0.2.10', 'ICMPv4 type 13').change, 'newly-denied');
  const denied = groupOf(r, 'team-b/web', 'world 203.0.113.77', 'TCP/443');
  assert.equal(denied.change, 'newly-denied');
  assert.equal(denied.decidedBy, 'egress denied by CiliumNetworkPolicy team-b/web-egress spec.egressDeny[0]', 'the deny rule wins over spec.egress[3], which allows the range');
});

test('default deny in one direction only: an ingress policy leaves the pod\'s egress alone', async () => {
  const r = await replay(`
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-ingress, namespace: team-a}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: web}}]
`);
  const egress = groupOf(r, 'team-a/api', 'world 198.51.100.23', 'TCP/443');
  assert.equal(egress.change, 'unchanged');
  assert.equal(egress.decidedBy, 'allowed (egress: no policy selects it)');
  // CNP scoping: app=web means team-a's web only.
  assert.equal(groupOf(r, 'team-a/web', 'team-a/api', 'TCP/8080').predicted, 'allowed');
  assert.equal(groupOf(r, 'team-b/web', 'team-a/api', 'TCP/8080').change, 'newly-denied');
  assert.deepEqual(r.deadRules, []);
});

test('CCNP selectors span namespaces where a CNP\'s are scoped to its own; an unmatched rule is reported dead', async () => {
  const r = await replay(`
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: api-from-any-web}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: web}}]
    - fromEndpoints: [{matchLabels: {app: nobody}}]
`);
  for (const ns of ['team-a', 'team-b', 'team-c']) {
    const g = [...r.unchanged, ...r.newlyAllowed].find((x) => x.source === `${ns}/web` && x.destination === 'team-a/api');
    assert.ok(g, `${ns}/web → team-a/api allowed`);
    assert.match(g.decidedBy, /CiliumClusterwideNetworkPolicy api-from-any-web spec\.ingress\[0\]/);
  }
  // team-c's flow that was dropped would now pass.
  assert.equal(r.newlyAllowed.filter((g) => g.source === 'team-c/web').length, 1);
  assert.deepEqual(r.deadRules, [{ policy: 'CiliumClusterwideNetworkPolicy api-from-any-web', path: 'spec.ingress[1]' }]);
});

test('Kubernetes NetworkPolicy with namespaceSelector: namespaces labelled team=blue get in, team=red does not', async () => {
  const r = await replay(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: blue-only, namespace: team-a}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {team: blue}}
      ports:
        - port: 8080
`);
  assert.match(groupOf(r, 'team-b/web', 'team-a/api', 'TCP/8080').decidedBy, /ingress: NetworkPolicy team-a\/blue-only spec\.ingress\[0\]/);
  assert.match(groupOf(r, 'team-a/web', 'team-a/api', 'TCP/8080').decidedBy, /NetworkPolicy team-a\/blue-only/);
  const red = r.newlyDenied.find((g) => g.source === 'team-c/web');
  assert.ok(red);
  assert.equal(red.decidedBy, 'ingress default deny (selected by NetworkPolicy team-a/blue-only)');
  // policyTypes defaults to Ingress only: the api's egress is untouched.
  assert.equal(groupOf(r, 'team-a/api', 'world 198.51.100.23', 'TCP/443').decidedBy, 'allowed (egress: no policy selects it)');
});

test('in-force policies: the proposed set replaces a policy of the same name and is added to the others', async () => {
  const inForce = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: isolate, namespace: team-a}
spec:
  endpointSelector: {}
  ingress:
    - fromEndpoints: [{}]
---
${FQDN_POLICY}`;
  const proposed = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: isolate, namespace: team-a}
spec:
  endpointSelector: {}
  ingress:
    - fromEndpoints: [{}]
    - fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: team-b}}]
`;
  const r = await replay(proposed, inForce);
  assert.deepEqual(r.policies.sort(), ['CiliumNetworkPolicy team-a/api-egress', 'CiliumNetworkPolicy team-a/isolate']);
  assert.match(groupOf(r, 'team-b/web', 'team-a/api', 'TCP/8080').decidedBy, /team-a\/isolate spec\.ingress\[1\]/);
  // The in-force FQDN policy still judges the api's egress.
  assert.equal(groupOf(r, 'team-a/api', 'world 198.51.100.23', 'TCP/443').change, 'undecidable');
});

test('bad policies get a 400 naming the document, the path and the problem; bad requests are refused clearly', async () => {
  const cases: [string, RegExp][] = [
    ['kind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  endpointSelector: {}\n---\nkind: CiliumNetworkPolicy\nmetadata: {name: b, namespace: x}\nspec:\n  endpointSelector: {}\n  ingress:\n    - toPorts:\n        - ports: [{port: "99999"}]\n',
      /policies document 2 \(CiliumNetworkPolicy x\/b\): spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port: 99999 is not a port/],
    ['kind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  endpointSelector: {}\n  ingress:\n    - fromEntitys: [world]\n', /spec\.ingress\[0\]\.fromEntitys: unknown field/],
    ['kind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  endpointSelector: {}\n  egress:\n    - toEntities: [moon]\n', /toEntities\[0\]: "moon" is not an entity/],
    ['kind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  endpointSelector: {}\n  ingressDeny:\n    - toPorts:\n        - ports: [{port: "80"}]\n          rules: {http: [{method: GET}]}\n', /deny rules cannot carry L7 rules/],
    ['kind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec:\n  endpointSelector: {}\n  ingress:\n    - toPorts:\n        - ports: [{port: "80"}]\n          rules: {http: [{path: "(unclosed"}]}\n', /http\[0\]\.path: /],
    ['kind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec: [\n', /policies document 1 line \d+/],
    ['kind: Deployment\nmetadata: {name: a}\n', /no CiliumNetworkPolicy/],
    ['kind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector: {matchExpressions: [{key: app, operator: Near, values: [x]}]}\n', /matchExpressions\[0\]\.operator: "Near" is not In/],
  ];
  for (const [yaml, message] of cases) {
    const res = await post(yaml);
    const body = (await res.json()) as { error: string; message: string };
    assert.equal(res.status, 400, yaml);
    assert.equal(body.error, 'FLOWKEEPER_ERR_BAD_POLICY', body.message);
    assert.match(body.message, message);
  }
  const json = await post({ nothing: true }, 'application/json');
  assert.equal(json.status, 400);
  const range = await post('kind: CiliumNetworkPolicy\nmetadata: {name: a}\nspec: {endpointSelector: {}}\n', 'application/yaml', 'since=nonsense');
  assert.equal(range.status, 400);
  assert.match(((await range.json()) as { message: string }).message, /since/);
  // A YAML alias bomb is refused, and the server keeps answering.
  const bomb = `a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n`;
  assert.equal((await post(bomb)).status, 400);
  assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
});

test('flowkeeper policy replay prints the report and exits 1 when something allowed would be denied, 0 when nothing would', async () => {
  const { execFile } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const { ROOT_DIR } = await import('../src/paths.js');
  const dir = tempDir();
  try {
    const breaking = join(dir.dir, 'isolate.yaml');
    writeFileSync(breaking, 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: isolate, namespace: team-a}\nspec:\n  endpointSelector: {}\n  ingress:\n    - fromEndpoints: [{}]\n');
    const harmless = join(dir.dir, 'harmless.yaml');
    writeFileSync(harmless, 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: open, namespace: team-a}\nspec:\n  endpointSelector: {}\n  ingress:\n    - fromEntities: [all]\n');
    const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => new Promise((resolve) => {
      execFile(process.execPath, [join(ROOT_DIR, 'dist', 'src', 'cli.js'), 'policy', 'replay', '--server', app.url, '--since', '1h', ...args], (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr });
      });
    });
    const broken = await run(['-f', breaking]);
    assert.equal(broken.code, 1, broken.stderr);
    assert.match(broken.stdout, /WOULD NEWLY BE DENIED \(2 flows in 2 groups\)/);
    assert.match(broken.stdout, /team-b\/web → team-a\/api\s+TCP\/8080/);
    const fine = await run(['-f', harmless, '-o', 'json']);
    assert.equal(fine.code, 0, fine.stderr);
    assert.equal((JSON.parse(fine.stdout) as ReplayReport).summary['newly-denied'], 0);
    const missing = await run(['-f', join(dir.dir, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*nope\.yaml/);
  } finally {
    dir.cleanup();
  }
});

test('every policy under examples/policies reads without error or warning', async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const { ROOT_DIR } = await import('../src/paths.js');
  const { parsePolicies } = await import('../src/policy/parse.js');
  const dir = join(ROOT_DIR, 'examples', 'policies');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 5, files.join(', '));
  for (const f of files) {
    const set = parsePolicies(readFileSync(join(dir, f), 'utf8'), f);
    assert.ok(set.rules.length > 0, f);
    assert.deepEqual(set.warnings, [], f);
  }
});

test('a filter SQL cannot answer (CEL, re-checked per row) gives the same report as one it can', async () => {
  const yaml = 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: isolate, namespace: team-a}\nspec:\n  endpointSelector: {}\n  ingress:\n    - fromEndpoints: [{}]\n';
  const bySql = await post(yaml, 'application/yaml', 'since=1h&top=1000&from_namespace=empire');
  const byCel = await post(yaml, 'application/yaml', `since=1h&top=1000&cel_expression=${encodeURIComponent("_flow.source.namespace == 'empire'")}`);
  assert.equal(bySql.status, 200);
  assert.equal(byCel.status, 200);
  const [a, b] = [(await bySql.json()) as ReplayReport, (await byCel.json()) as ReplayReport];
  assert.ok(a.classes < a.flows, `some class holds several flows (${a.classes} classes, ${a.flows} flows)`);
  assert.deepEqual({ ...b, since: a.since, until: a.until }, a);
});

test('classes are the same whether ids are packed two per sort key or, once an id needs 32 bits, grouped one by one', async () => {
  const yaml = 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: isolate, namespace: team-a}\nspec:\n  endpointSelector: {}\n  ingress:\n    - fromEndpoints: [{}]\n';
  const packed = await replay(yaml);
  assert.ok(packed.classes < packed.flows, `some class holds several flows (${packed.classes} classes, ${packed.flows} flows)`);
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(dbPath);
  try {
    db.pragma('busy_timeout = 5000');
    // A dictionary id beyond 31 bits: pairs can no longer share one integer.
    db.prepare("INSERT INTO dict (id, kind, value) VALUES (?, 250, x'00')").run(2 ** 31);
  } finally {
    db.close();
  }
  const unpacked = await replay(yaml);
  assert.deepEqual({ ...unpacked, since: packed.since, until: packed.until }, packed);
});

test('policy bodies may be up to 4 MB on the replay route only; other routes keep the small limit for YAML and text too', async () => {
  const padding = `# ${'x'.repeat(1000)}\n`.repeat(1000);
  const big = await post(`${padding}apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a, namespace: team-a}\nspec: {endpointSelector: {}}\n`);
  assert.equal(big.status, 200, await big.clone().text());
  for (const type of ['text/plain', 'application/yaml']) {
    const res = await fetch(`${app.url}/api/v1/flows/query`, { method: 'POST', headers: { 'content-type': type }, body: 'x'.repeat(300 * 1024) });
    assert.equal(res.status, 413, type);
  }
});

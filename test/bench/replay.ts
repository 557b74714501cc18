import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../../src/paths.js';
import { parsePolicies } from '../../src/policy/parse.js';
import { tempDir } from '../helpers/harness.js';
import type { Figure } from './measure.js';
import { buildStore, serveStore } from './query.js';

const APPS: [string, string][] = [
  ['frontend', 'web'], ['checkout', 'checkout-api'], ['payments', 'payments-api'], ['payments', 'payments-worker'],
  ['catalog', 'catalog-api'], ['catalog', 'catalog-db'], ['kube-system', 'coredns'], ['monitoring', 'prometheus'],
];

/** The demo's policies in force plus generated L7 rules up to `rules` rules. */
export function policySet(rules: number): string {
  const docs = [readFileSync(join(ROOT_DIR, 'examples', 'policies', 'in-force.yaml'), 'utf8')];
  let have = parsePolicies(docs[0], 'in-force').rules.length;
  for (let i = 0; have < rules; i++, have++) {
    const [ns, app] = APPS[i % APPS.length];
    const [, peer] = APPS[(i + 3) % APPS.length];
    docs.push(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bench-${i}, namespace: ${ns}}
spec:
  endpointSelector: {matchLabels: {app: ${app}}}
  ingress:
    - fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: ${APPS[(i + 3) % APPS.length][0]}, app: ${peer}}}]
      toPorts:
        - ports: [{port: "${8000 + i}", protocol: TCP}]
          rules: {http: [{method: GET, path: "/api/v${i}/.*"}]}
`);
  }
  return docs.join('\n---\n');
}

/** Policy replay of `flows` stored flows (24 h) against a 50-rule set, through the real API. */
export async function benchReplay(flows: number): Promise<Figure[]> {
  const { dir, cleanup } = tempDir('flowkeeper-bench-r-');
  const dbPath = join(dir, 'r.db');
  buildStore(dbPath, flows);
  const yaml = policySet(50);
  const fk = await serveStore(dbPath);
  try {
    const times: number[] = [];
    let report: { flows: number; classes: number; incomplete: string | null } | null = null;
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      const res = await fetch(`${fk.base}/api/v1/policies/replay?since=24h`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml });
      const text = await res.text();
      if (!res.ok) throw new Error(`replay: ${res.status} ${text}`);
      if (i > 0) times.push(performance.now() - t0); // the first run warms caches and JIT
      report = JSON.parse(text) as typeof report;
    }
    times.sort((a, b) => a - b);
    const r = report!;
    return [{
      name: `policy replay, ${(flows / 1e6).toFixed(1)} M flows × 50 rules`, value: times[1] / 1000, unit: 's', target: { op: '<=', value: 2 },
      note: `median of 3 (${times.map((t) => (t / 1000).toFixed(2)).join(', ')} s); ${r.flows.toLocaleString('en-US')} flows read in ${r.classes.toLocaleString('en-US')} classes${r.incomplete ? `; INCOMPLETE: ${r.incomplete}` : ''}`,
    }];
  } finally {
    fk.stop();
    cleanup();
  }
}

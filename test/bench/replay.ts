import Database from 'better-sqlite3';
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
  let withClasses: Replays, raw: Replays, classBytes: number;
  try {
    classBytes = classRowBytes(dbPath);
    withClasses = await timeReplays(dbPath, yaml);
    // The same replay where no class rows are kept (hours written before them, or whose classes outgrew their bound).
    const db = new Database(dbPath);
    db.pragma('busy_timeout = 5000');
    db.prepare('UPDATE partitions SET classes = 0').run();
    db.close();
    raw = await timeReplays(dbPath, yaml);
  } finally {
    cleanup();
  }
  const note = (r: Replays): string => `median of 3 (${r.times.map((t) => (t / 1000).toFixed(2)).join(', ')} s); ${r.report.flows.toLocaleString('en-US')} flows read in ${r.report.classes.toLocaleString('en-US')} classes${r.report.incomplete ? `; INCOMPLETE: ${r.report.incomplete}` : ''}`;
  return [
    { name: `policy replay, ${(flows / 1e6).toFixed(1)} M flows × 50 rules`, value: withClasses.times[1] / 1000, unit: 's', target: { op: '<=', value: 2 }, note: `${note(withClasses)}; whole hours from class rows, the range's two partial hours grouped from raw flows` },
    { name: '  the same, every hour grouped from raw flows', value: raw.times[1] / 1000, unit: 's', note: note(raw) },
    { name: '  class rows on disk', value: classBytes / flows, unit: 'B/flow', note: `${(classBytes / 1e6).toFixed(1)} MB; ${(flows / 24).toFixed(0)} flows an hour here, so the rows' share shrinks as the flow rate grows` },
  ];
}

interface Replays {
  times: number[];
  report: { flows: number; classes: number; incomplete: string | null };
}

/** Four replays through the API; the first warms caches and JIT. */
async function timeReplays(dbPath: string, yaml: string): Promise<Replays> {
  const fk = await serveStore(dbPath);
  try {
    const times: number[] = [];
    let report: Replays['report'] | null = null;
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      const res = await fetch(`${fk.base}/api/v1/policies/replay?since=24h`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml });
      const text = await res.text();
      if (!res.ok) throw new Error(`replay: ${res.status} ${text}`);
      if (i > 0) times.push(performance.now() - t0);
      report = JSON.parse(text) as Replays['report'];
    }
    return { times: times.sort((a, b) => a - b), report: report! };
  } finally {
    fk.stop();
  }
}

/** Bytes of the flow_classes table (SQLite's dbstat). */
function classRowBytes(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare("SELECT sum(pgsize) FROM dbstat WHERE name = 'flow_classes'").pluck().get() as number;
  } finally {
    db.close();
  }
}

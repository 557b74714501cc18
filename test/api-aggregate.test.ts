import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_TIME, populatedApp } from './helpers/populated.js';
import type { Populated } from './helpers/populated.js';

let env: Populated;
before(async () => {
  env = await populatedApp(6000);
});
after(async () => {
  await env.stop();
});

interface Agg {
  source: 'rollup' | 'raw';
  total: number;
  groups: { key: Record<string, string | number>; count: number }[];
  series: { start: string; groups: { key: Record<string, string | number>; count: number }[] }[] | null;
}

async function agg(query: string): Promise<Agg> {
  const res = await fetch(`${env.app.url}/api/v1/aggregate?since=${ALL_TIME.since}&${query}`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Agg;
}

/** A blacklist entry that excludes nothing but that rollups cannot answer, forcing the raw path. */
const FORCE_RAW = 'not_uuid=00000000-0000-4000-8000-000000000000';

test('rollup and raw answers agree, group by group, series included', async () => {
  const queries = [
    'group_by=verdict,drop_reason&top=1000',
    'group_by=drop_reason,source_namespace&verdict=DROPPED&top=1000',
    'group_by=source_workload,destination_workload,destination_port&namespace=payments&top=1000',
    'group_by=policy,traffic_direction&type=policy-verdict&top=1000',
    'group_by=policy,type&verdict=DROPPED&top=1000',
    'group_by=cluster,protocol,type&top=1000&bucket=1m',
    'group_by=source_label:app,destination_label:app&top=1000',
    'group_by=destination_label:app,verdict,destination_port&verdict=DROPPED&top=1000&bucket=1m',
    'group_by=source_label:k8s-app,destination_namespace,policy&from_namespace=kube-system&top=1000',
  ];
  for (const q of queries) {
    const rollup = await agg(q);
    const raw = await agg(`${q}&${FORCE_RAW}`);
    assert.equal(rollup.source, 'rollup', q);
    assert.equal(raw.source, 'raw', q);
    assert.ok(rollup.total > 0, q);
    assert.equal(raw.total, rollup.total, q);
    assert.deepEqual(raw.groups, rollup.groups, q);
    assert.deepEqual(raw.series, rollup.series, q);
  }
});

test('group_by=policy names every policy-denied drop: the policy, default-deny for a verdict naming none, drop-event for its drop event', async () => {
  const res = await agg('group_by=policy,type&verdict=DROPPED&drop_reason_desc=POLICY_DENIED&top=1000');
  const byKey = new Map(res.groups.map((g) => [`${String(g.key.policy)} ${String(g.key.type)}`, g.count]));
  assert.ok(res.total > 0);
  // (A drop that does not say which monitor event it is, type 0, cannot be told apart: "".)
  const known = [...byKey.keys()].filter((k) => / [15]$/.test(k));
  assert.ok(known.every((k) => !k.startsWith(' ')), `no policy-denied drop or verdict is left unlabelled: ${[...byKey.keys()].join(', ')}`);
  assert.ok((byKey.get('default-deny 5') ?? 0) > 0, 'policy-verdict denials naming no policy are default-deny');
  assert.ok((byKey.get('drop-event 1') ?? 0) > 0, 'the drop events beside them are drop-event');
  assert.ok([...byKey.keys()].filter((k) => k.endsWith(' 1')).every((k) => k === 'drop-event 1'), 'drop events are never attributed to a policy');
});

test('aggregate counts equal counting the stored flows directly', async () => {
  const res = await agg('group_by=verdict&top=1000');
  const byVerdict = new Map<string, number>();
  for (const f of env.records) {
    const v = String(f.verdict ?? 'VERDICT_UNKNOWN');
    byVerdict.set(v, (byVerdict.get(v) ?? 0) + 1);
  }
  assert.equal(res.total, env.records.length);
  for (const g of res.groups) assert.equal(g.count, byVerdict.get(String(g.key.verdict)), String(g.key.verdict));
  const labels = await agg('group_by=source_label:app&from_namespace=bookinfo&top=1000');
  assert.equal(labels.source, 'rollup');
  const byApp = new Map<string, number>();
  for (const f of env.records) {
    const src = f.source as { namespace?: string; labels?: string[] } | undefined;
    if (src?.namespace !== 'bookinfo') continue;
    const app = (src.labels ?? []).find((l) => l.startsWith('k8s:app='))?.slice('k8s:app='.length) ?? '';
    byApp.set(app, (byApp.get(app) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(labels.groups.map((g) => [g.key['source_label:app'], g.count])), Object.fromEntries(byApp));
});

test('top-N folds the rest into an "other" row', async () => {
  const res = await agg('group_by=source_workload,destination_workload&top=3');
  assert.equal(res.groups.length, 4);
  const other = res.groups[3];
  assert.equal(other.key.source_workload, 'other');
  assert.equal(res.groups.reduce((s, g) => s + g.count, 0), res.total);
  assert.ok(res.groups[0].count >= res.groups[1].count);
});

test('policy-denials names the denying policy and labels default-deny; drops view lists reasons and pairs', async () => {
  const res = await fetch(`${env.app.url}/api/v1/policy-denials?since=${ALL_TIME.since}`);
  const body = (await res.json()) as { total: number; policies: { key: { policy: string; traffic_direction: string }; count: number }[]; pairs: unknown[] };
  const policies = Object.fromEntries(body.policies.map((p) => [`${p.key.policy} ${p.key.traffic_direction}`, p.count]));
  assert.ok(policies['payments/payments-allow-checkout-only INGRESS'] > 0);
  assert.ok(policies['default-deny INGRESS'] > 0, 'denials without a policy name are kept, labelled default-deny');
  assert.ok(policies['deny-unknown-egress EGRESS'] > 0);
  assert.ok(policies['net-lab/deny-tg-to-echo EGRESS'] === 1, 'the real policy-verdict drop from Cilium 1.18');
  const expected = env.records.filter((f) => f.verdict === 'DROPPED' && (f.event_type as { type?: number } | undefined)?.type === 5 && ['POLICY_DENIED', 'POLICY_DENY'].includes(String(f.drop_reason_desc))).length;
  assert.equal(body.total, expected);
  const drops = (await (await fetch(`${env.app.url}/api/v1/drops?since=${ALL_TIME.since}`)).json()) as { reasons: { key: { drop_reason: string } }[]; pairs: unknown[]; series: unknown[] };
  const reasons = drops.reasons.map((r) => r.key.drop_reason);
  for (const r of ['POLICY_DENIED', 'POLICY_DENY', 'STALE_OR_UNROUTABLE_IP']) assert.ok(reasons.includes(r), r);
  assert.ok(drops.pairs.length > 0 && drops.series.length > 0);
});

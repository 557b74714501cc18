import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowRecord } from '../src/flows/record.js';
import { populatedApp } from './helpers/populated.js';
import { waitFor, withSimAndApp } from './helpers/harness.js';
import { TrafficGenerator } from '../src/sim/traffic.js';

const DROPPED_ENUM = 2;
const INGRESS = 1;
const EGRESS = 2;
import { parsePromText, samples } from './helpers/prom-text.js';
import type { Sample } from './helpers/prom-text.js';

const EVENT_TYPES: Record<number, string> = { 1: 'drop', 4: 'trace', 5: 'policy-verdict', 129: 'l7' };
type Ep = { namespace?: string; workloads?: { name: string }[] } | undefined;

/** The documented drop rule: DROPPED flows except the policy-verdict events (type 5) that accompany policy drops. */
function isDropEvent(f: FlowRecord): boolean {
  return f.verdict === 'DROPPED' && (f.event_type as { type?: number } | undefined)?.type !== 5;
}

function clusterOf(f: FlowRecord): string {
  const node = String(f.node_name ?? '');
  return node.includes('/') ? node.slice(0, node.indexOf('/')) : 'default';
}

function tally(records: FlowRecord[], key: (f: FlowRecord) => string | null): Map<string, number> {
  const m = new Map<string, number>();
  for (const f of records) {
    const k = key(f);
    if (k !== null) m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

function scraped(all: Sample[], name: string, labels: string[]): Map<string, number> {
  return new Map(samples(all, name).map((s) => [labels.map((l) => s.labels[l]).join('|'), s.value]));
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  return parsePromText(await res.text());
}

test('a known mix over real gRPC gives exact counter values on a real /metrics scrape', async () => {
  const env = await populatedApp(3000);
  try {
    const all = await scrape(env.app.url);
    const type = (f: FlowRecord): string => EVENT_TYPES[(f.event_type as { type?: number } | undefined)?.type ?? -1] ?? 'unknown';
    assert.deepEqual(
      scraped(all, 'flowkeeper_flows_total', ['verdict', 'type', 'cluster']),
      tally(env.records, (f) => `${String(f.verdict ?? 'VERDICT_UNKNOWN')}|${type(f)}|${clusterOf(f)}`),
    );
    const ns = (ep: unknown): string => (ep as Ep)?.namespace ?? '';
    assert.deepEqual(
      scraped(all, 'flowkeeper_dropped_flows_total', ['reason', 'direction', 'source_namespace', 'destination_namespace', 'cluster']),
      tally(env.records, (f) => (isDropEvent(f) ? `${String(f.drop_reason_desc)}|${String(f.traffic_direction ?? 'TRAFFIC_DIRECTION_UNKNOWN')}|${ns(f.source)}|${ns(f.destination)}|${clusterOf(f)}` : null)),
    );
    const wl = (ep: unknown): string => (ep as Ep)?.workloads?.[0]?.name ?? '';
    const denied = tally(env.records, (f) => {
      const et = (f.event_type as { type?: number } | undefined)?.type;
      if (f.verdict !== 'DROPPED' || et !== 5 || !['POLICY_DENIED', 'POLICY_DENY'].includes(String(f.drop_reason_desc))) return null;
      const egress = f.traffic_direction === 'EGRESS';
      const [self, peer] = egress ? [f.source, f.destination] : [f.destination, f.source];
      const pols = [...((f.ingress_denied_by ?? []) as { name: string; namespace?: string }[]), ...((f.egress_denied_by ?? []) as { name: string; namespace?: string }[])];
      const policy = pols.length ? pols.map((p) => (p.namespace ? `${p.namespace}/${p.name}` : p.name)).join(',') : 'default-deny';
      return `${String(f.traffic_direction)}|${ns(self)}|${wl(self)}|${ns(peer)}|${wl(peer)}|${policy}`;
    });
    assert.deepEqual(scraped(all, 'flowkeeper_policy_denied_flows_total', ['direction', 'namespace', 'workload', 'peer_namespace', 'peer_workload', 'policy']), denied);
    assert.ok([...denied.keys()].some((k) => k.includes('default-deny')));
    assert.equal(samples(all, 'flowkeeper_flows_ingested_total')[0].value, env.records.length);
    assert.equal(samples(all, 'flowkeeper_relay_connected')[0].value, 1);
    assert.equal(samples(all, 'flowkeeper_store_flows')[0].value, env.records.length);
    for (const name of ['flowkeeper_ingest_lag_seconds', 'flowkeeper_batch_write_duration_seconds_count', 'flowkeeper_store_bytes', 'flowkeeper_store_oldest_flow_age_seconds', 'flowkeeper_websocket_clients', 'flowkeeper_live_dropped_total', 'flowkeeper_live_backlog', 'flowkeeper_relay_reconnects_total', 'process_resident_memory_bytes']) {
      assert.ok(samples(all, name).length > 0, `${name} is exported`);
    }
  } finally {
    await env.stop();
  }
});

test('the series cap folds new label sets into "other" without losing counts; idle series expire', async () => {
  const env = await populatedApp(3000, ['--metrics-max-series', '3']);
  try {
    const all = await scrape(env.app.url);
    const drops = samples(all, 'flowkeeper_dropped_flows_total');
    const distinct = new Set(drops.filter((s) => s.labels.source_namespace !== 'other').map((s) => JSON.stringify(s.labels)));
    assert.equal(distinct.size, 3, 'only the first 3 label sets keep their own series');
    assert.ok(drops.some((s) => s.labels.source_namespace === 'other' && s.labels.destination_namespace === 'other'), JSON.stringify(drops));
    assert.ok(drops.every((s) => s.labels.reason !== 'other'), 'bounded labels (reason) are kept');
    const totalDrops = env.records.filter(isDropEvent).length;
    assert.equal(drops.reduce((s, x) => s + x.value, 0), totalDrops, 'no increment is lost');
    const overflow = samples(all, 'flowkeeper_metrics_series_overflow_total').find((s) => s.labels.metric === 'flowkeeper_dropped_flows_total');
    assert.ok(overflow && overflow.value > 0);

    env.app.metrics.flows.expire(Date.now() + 16 * 60_000);
    const after = await scrape(env.app.url);
    assert.equal(samples(after, 'flowkeeper_dropped_flows_total').length, 0, 'idle series are removed after the TTL');
    assert.equal(samples(after, 'flowkeeper_metrics_series').find((s) => s.labels.metric === 'flowkeeper_dropped_flows_total')?.value, 0);
  } finally {
    await env.stop();
  }
});

test('/metrics can require its own bearer token', async () => {
  const env = await populatedApp(10, ['--metrics-token', 'prom']);
  try {
    assert.equal((await fetch(`${env.app.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${env.app.url}/metrics`, { headers: { authorization: 'Bearer prom' } })).status, 200);
    assert.equal((await fetch(`${env.app.url}/api/v1/status`)).status, 200, 'the API token is separate');
  } finally {
    await env.stop();
  }
});

test('counters the dashboards read exist at 0 before their first increment', async () => {
  await withSimAndApp(async ({ app }) => {
    const all = await scrape(app.url);
    const zero = (name: string, labels: Record<string, string>): void => {
      const found = samples(all, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      assert.ok(found, `${name}${JSON.stringify(labels)} is exported`);
      assert.equal(found.value, 0);
    };
    zero('flowkeeper_duplicate_flows_dropped_total', { relay: 'test' });
    zero('flowkeeper_malformed_messages_total', { relay: 'test' });
    zero('flowkeeper_lost_events_total', { relay: 'test', source: 'hubble_ring_buffer' });
    zero('flowkeeper_lost_events_total', { relay: 'test', source: 'perf_event_ring_buffer' });
    zero('flowkeeper_metrics_series_overflow_total', { metric: 'flowkeeper_dropped_flows_total' });
    zero('flowkeeper_storage_failing', {});
  });
});

test('a policy denial counts once as a drop and once as a denial, in both directions, as the simulator emits it like Cilium', async () => {
  await withSimAndApp(async ({ app, sim }) => {
    const gen = new TrafficGenerator(31);
    const pushed: Record<string, unknown>[] = [];
    while (pushed.filter((f) => (f.event_type as { type: number }).type === 5 && f.verdict === DROPPED_ENUM).length < 60) {
      for (const f of gen.next(Date.now())) {
        sim.pushFlow(f.flow, f.seconds, f.nanos);
        pushed.push(f.flow);
      }
    }
    await waitFor('stored', () => app.pipeline.stats.stored === pushed.length);
    const verdicts = pushed.filter((f) => (f.event_type as { type: number }).type === 5 && f.verdict === DROPPED_ENUM);
    // Each denial the simulator emits is a policy-verdict event plus its drop event, ingress and egress alike.
    for (const direction of [INGRESS, EGRESS]) {
      const v = verdicts.filter((f) => f.traffic_direction === direction);
      assert.ok(v.length > 0, `denials in direction ${direction}`);
      for (const f of v) {
        assert.ok(pushed.some((d) => (d.event_type as { type: number }).type === 1 && d.uuid !== f.uuid && JSON.stringify(d.l4) === JSON.stringify(f.l4) && JSON.stringify(d.IP) === JSON.stringify(f.IP)), 'a drop event beside the verdict');
      }
    }
    const all = await scrape(app.url);
    const sum = (name: string, where: (l: Record<string, string>) => boolean): number => samples(all, name).filter((x) => where(x.labels)).reduce((n, x) => n + x.value, 0);
    const policyDrops = sum('flowkeeper_dropped_flows_total', (l) => l.reason === 'POLICY_DENIED' || l.reason === 'POLICY_DENY');
    const denials = sum('flowkeeper_policy_denied_flows_total', () => true);
    assert.equal(denials, verdicts.length);
    assert.equal(policyDrops, verdicts.length, 'each denial is one dropped packet, not two');
    const view = (await (await fetch(`${app.url}/api/v1/drops?since=1h`)).json()) as { total: number; reasons: { key: { drop_reason: string }; count: number }[] };
    const viewPolicy = view.reasons.filter((r) => ['POLICY_DENIED', 'POLICY_DENY'].includes(r.key.drop_reason)).reduce((n, r) => n + r.count, 0);
    assert.equal(viewPolicy, verdicts.length, '/api/v1/drops follows the same rule');
  });
});

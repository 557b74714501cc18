import { Counter, Registry } from 'prom-client';
import { FlowMetrics } from '../../src/metrics/flow-metrics.js';
import type { StoreAggregateLabels } from '../../src/store/sqlite/aggregate.js';
import type { MetricDelta } from '../../src/store/rollup-dims.js';
import { Random } from '../../src/sim/random.js';
import type { Figure } from './measure.js';

/**
 * Series the default metric configuration produces for a cluster with
 * `workloads` workloads in `namespaces` namespaces: each workload talks to a few
 * peers; some pairs see drops (several reasons) and policy denials.
 */
export function benchSeries(workloads: number, namespaces: number): Figure[] {
  const rnd = new Random(3);
  const names = (id: number): { cluster: string; namespace: string; name: string; kind: string } =>
    id === 0 ? { cluster: '', namespace: '', name: '', kind: '' } : { cluster: 'prod', namespace: `ns-${id % namespaces}`, name: `wl-${id}`, kind: 'Deployment' };
  const labels = {
    workload: names,
    cluster: () => 'prod',
    policyInfo: (id: number) => ({ names: `ns-${id % namespaces}/policy-${id % 3}`, namespace: `ns-${id % namespaces}`, kind: 'CiliumNetworkPolicy' }),
  } as unknown as StoreAggregateLabels;
  const registry = new Registry();
  const overflow = new Counter({ name: 'overflow_total', help: 'x', labelNames: ['metric'], registers: [registry] });
  const metrics = new FlowMetrics(registry, labels, { maxSeries: 2000, ttlMs: 15 * 60_000 }, false, overflow);
  const deltas: MetricDelta[] = [];
  const reasons = [133, 181, 151, 155, 158];
  for (let src = 1; src <= workloads; src++) {
    for (let k = 0; k < 5; k++) {
      const dst = 1 + rnd.int(workloads);
      const base = { cluster: 1, srcWorkload: src, dstWorkload: dst, flows: 1 + rnd.int(100) };
      deltas.push({ ...base, verdict: 1, dropReason: 0, direction: 2, eventType: 4, deniedBy: 0 });
      deltas.push({ ...base, verdict: 1, dropReason: 0, direction: 1, eventType: 129, deniedBy: 0 });
      if (rnd.next() < 0.3) deltas.push({ ...base, verdict: 2, dropReason: rnd.pick(reasons), direction: rnd.pick([1, 2]), eventType: 1, deniedBy: 0 });
      if (rnd.next() < 0.15) deltas.push({ ...base, verdict: 2, dropReason: 181, direction: 1, eventType: 5, deniedBy: dst });
      if (rnd.next() < 0.1) deltas.push({ ...base, verdict: 2, dropReason: 133, direction: 1, eventType: 5, deniedBy: 0 });
    }
  }
  metrics.observe(deltas);
  const series = metrics.flows.series + metrics.dropped.series + metrics.denied.series;
  return [
    { name: `flow-metric series, ${workloads} workloads / ${namespaces} namespaces`, value: series, unit: 'series', target: { op: '<=', value: 10_000 },
      note: `flows ${metrics.flows.series}, dropped ${metrics.dropped.series}, denied ${metrics.denied.series} (cap 2000 each)` },
  ];
}

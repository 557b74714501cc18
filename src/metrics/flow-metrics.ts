import type { Counter, Registry } from 'prom-client';
import { Enums } from '../query/enums.js';
import { EVENT_TYPE_NAMES } from '../flows/row.js';
import { POLICY_DENIED_REASONS, POLICY_VERDICT_EVENT } from '../flows/denial.js';
import type { MetricDelta } from '../store/rollup-dims.js';
import type { MetricLabels } from './metric-labels.js';
import { GuardedCounter } from './guarded-counter.js';
import type { GuardOptions } from './guarded-counter.js';

const DROPPED = Enums.Verdict.values.DROPPED;
const EGRESS = Enums.TrafficDirection.values.EGRESS;

type DropLabel = 'reason' | 'direction' | 'source_namespace' | 'destination_namespace' | 'source_workload' | 'destination_workload' | 'cluster';
type DenyLabel = 'direction' | 'namespace' | 'workload' | 'peer_namespace' | 'peer_workload' | 'policy' | 'policy_namespace' | 'policy_kind' | 'cluster';

/**
 * The flow counters (all flows, drops, policy denials), fed from each stored
 * batch's metric deltas: the writer already grouped flows by these dimensions
 * for the rollups, so metrics add no per-flow work.
 */
export class FlowMetrics {
  readonly flows: GuardedCounter<'verdict' | 'type' | 'cluster'>;
  readonly dropped: GuardedCounter<DropLabel>;
  readonly denied: GuardedCounter<DenyLabel>;

  constructor(
    registry: Registry,
    private readonly labels: MetricLabels,
    guard: GuardOptions,
    private readonly workloadLabelsOnDrops: boolean,
    overflow: Counter<'metric'>,
  ) {
    this.flows = new GuardedCounter(registry, 'flowkeeper_flows_total', 'Flows stored, by verdict and monitor event type.', ['verdict', 'type', 'cluster'], [], guard, overflow);
    const dropLabels: DropLabel[] = ['reason', 'direction', 'source_namespace', 'destination_namespace', 'cluster'];
    if (workloadLabelsOnDrops) dropLabels.push('source_workload', 'destination_workload');
    this.dropped = new GuardedCounter(registry, 'flowkeeper_dropped_flows_total', 'Dropped packets (verdict DROPPED; drop events, not the policy-verdict events that accompany policy drops) by drop reason, direction and namespaces.', dropLabels,
      ['source_namespace', 'destination_namespace', 'source_workload', 'destination_workload'], guard, overflow);
    this.denied = new GuardedCounter(registry, 'flowkeeper_policy_denied_flows_total',
      'Flows denied by network policy (policy-verdict events, reason POLICY_DENIED/POLICY_DENY), by the protected workload, its peer and the denying policy ("default-deny" when none is named).',
      ['direction', 'namespace', 'workload', 'peer_namespace', 'peer_workload', 'policy', 'policy_namespace', 'policy_kind', 'cluster'],
      ['namespace', 'workload', 'peer_namespace', 'peer_workload', 'policy', 'policy_namespace'], guard, overflow);
  }

  observe(deltas: MetricDelta[], now = Date.now()): void {
    for (const d of deltas) {
      const cluster = this.labels.cluster(d.cluster);
      const verdict = Enums.Verdict.valuesById[d.verdict] ?? String(d.verdict);
      this.flows.inc({ verdict, type: EVENT_TYPE_NAMES[d.eventType] ?? 'unknown', cluster }, d.flows, now);
      if (d.verdict !== DROPPED) continue;
      const direction = Enums.TrafficDirection.valuesById[d.direction] ?? String(d.direction);
      const src = this.labels.workload(d.srcWorkload);
      const dst = this.labels.workload(d.dstWorkload);
      const drop: Record<string, string> = {
        reason: Enums.DropReason.valuesById[d.dropReason] ?? String(d.dropReason),
        direction, source_namespace: src.namespace, destination_namespace: dst.namespace, cluster,
      };
      if (this.workloadLabelsOnDrops) {
        drop.source_workload = src.name;
        drop.destination_workload = dst.name;
      }
      // One rule for every drop figure: a dropped packet is its drop event. The policy-verdict event Cilium
      // sends beside a policy drop is counted as a denial, never a second time as a drop.
      if (d.eventType !== POLICY_VERDICT_EVENT) this.dropped.inc(drop as Record<DropLabel, string>, d.flows, now);
      if (d.eventType !== POLICY_VERDICT_EVENT || !POLICY_DENIED_REASONS.includes(d.dropReason)) continue;
      const [self, peer] = d.direction === EGRESS ? [src, dst] : [dst, src];
      const policy = d.deniedBy ? this.labels.policyInfo(d.deniedBy) : { names: 'default-deny', namespace: '', kind: '' };
      this.denied.inc({
        direction, namespace: self.namespace, workload: self.name, peer_namespace: peer.namespace, peer_workload: peer.name,
        policy: policy.names, policy_namespace: policy.namespace, policy_kind: policy.kind, cluster,
      }, d.flows, now);
    }
  }

  expire(now = Date.now()): void {
    this.flows.expire(now);
    this.dropped.expire(now);
    this.denied.expire(now);
  }
}

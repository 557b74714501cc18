import type { MetricNames, PolicyInfo, WorkloadNames } from '../../metrics/metric-labels.js';
import { FlowType } from '../../flows/schema.js';

type Policy = { name?: string; namespace?: string; kind?: string };

/** The denying policies of a flow's egress/ingress_denied_by fields (raw Flow bytes holding only them), as metrics name them. */
export function policyInfoOf(raw: Uint8Array): PolicyInfo {
  const msg = FlowType.decode(raw) as unknown as Record<string, Policy[] | undefined>;
  const all = [...(msg.egress_denied_by ?? []), ...(msg.ingress_denied_by ?? [])];
  const names = [...new Set(all.map((p) => (p.namespace ? `${p.namespace}/${p.name ?? ''}` : (p.name ?? ''))))].sort().join(',');
  return { names, namespace: all[0]?.namespace ?? '', kind: all[0]?.kind ?? '' };
}

/**
 * The ClickHouse writer's ids for what flow metrics name (clusters, workloads,
 * denying policies). ClickHouse keeps no dictionary tables, so the ids live in
 * this writer thread; each batch reports the ids it handed out first, with their
 * names, and the main thread learns them (LearnedMetricLabels). Id 0 is "none".
 */
export class MetricNameInterner {
  private readonly ids = new Map<string, number>();
  private pending: MetricNames = { clusters: [], workloads: [], policies: [] };
  private nextId = 1;

  cluster(name: string): number {
    return this.id(`c\0${name}`, (id) => this.pending.clusters.push([id, name]));
  }

  workload(w: WorkloadNames): number {
    return this.id(`w\0${w.cluster}\0${w.namespace}\0${w.name}\0${w.kind}`, (id) => this.pending.workloads.push([id, { ...w }]));
  }

  /** Id of a denied-by field group (its raw bytes as hex: groups are few and short). */
  policies(raw: Uint8Array): number {
    return this.id(`p\0${Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex')}`, (id) => this.pending.policies.push([id, policyInfoOf(raw)]));
  }

  /** Ids handed out since the last call, with their names (undefined when none). */
  takeNew(): MetricNames | undefined {
    const p = this.pending;
    if (p.clusters.length + p.workloads.length + p.policies.length === 0) return undefined;
    this.pending = { clusters: [], workloads: [], policies: [] };
    return p;
  }

  /** Puts back what takeNew() gave, when the batch that carried it was not stored (so the main thread learns it later). */
  restore(names: MetricNames | undefined): void {
    if (!names) return;
    this.pending.clusters.push(...names.clusters);
    this.pending.workloads.push(...names.workloads);
    this.pending.policies.push(...names.policies);
  }

  private id(key: string, announce: (id: number) => void): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(key, id);
      announce(id);
    }
    return id;
  }
}

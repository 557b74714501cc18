import type { PolicyInfo } from '../../flows/denial.js';
import type { WorkloadNames } from '../../flows/endpoint.js';
import type { MetricNames } from '../../metrics/metric-labels.js';

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

  /** Id of a denied-by field group, by its policies (one distinct value each, cached by the caller). */
  policies(info: PolicyInfo): number {
    return this.id(`p\0${info.names}\0${info.namespace}\0${info.kind}`, (id) => this.pending.policies.push([id, info]));
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

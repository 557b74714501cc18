import { NO_WORKLOAD } from '../flows/endpoint.js';
import type { WorkloadNames } from '../flows/endpoint.js';

import type { PolicyInfo } from '../flows/denial.js';

export type { PolicyInfo } from '../flows/denial.js';

/** Names behind the ids of a batch's metric deltas (SQLite: its dictionaries; ClickHouse: what the writer sent). */
export interface MetricLabels {
  cluster(id: number): string;
  workload(id: number): WorkloadNames;
  policyInfo(deniedBy: number): PolicyInfo;
}

/** New ids a writer handed out in a batch, with their names (ClickHouse's writer keeps no dictionary tables). */
export interface MetricNames {
  clusters: [number, string][];
  workloads: [number, WorkloadNames][];
  policies: [number, PolicyInfo][];
}

const NO_POLICY: PolicyInfo = { names: '', namespace: '', kind: '' };

/** MetricLabels learned from the writer's batches, on the main thread. */
export class LearnedMetricLabels implements MetricLabels {
  private readonly clusters = new Map<number, string>();
  private readonly workloads = new Map<number, WorkloadNames>();
  private readonly policies = new Map<number, PolicyInfo>();

  learn(names: MetricNames | undefined): void {
    if (!names) return;
    for (const [id, n] of names.clusters) this.clusters.set(id, n);
    for (const [id, w] of names.workloads) this.workloads.set(id, w);
    for (const [id, p] of names.policies) this.policies.set(id, p);
  }

  cluster(id: number): string {
    return this.clusters.get(id) ?? '';
  }

  workload(id: number): WorkloadNames {
    return this.workloads.get(id) ?? NO_WORKLOAD;
  }

  policyInfo(deniedBy: number): PolicyInfo {
    return this.policies.get(deniedBy) ?? NO_POLICY;
  }
}

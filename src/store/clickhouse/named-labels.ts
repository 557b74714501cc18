import { NO_WORKLOAD } from '../../flows/endpoint.js';
import type { WorkloadNames } from '../../flows/endpoint.js';
import type { AggregateLabels } from '../../query/aggregate.js';

/**
 * Ids for the names a rollup answer (or raw flows) carry, so ClickHouse's rows
 * feed the same Accumulator and dimensions as SQLite's (one query's worth).
 */
export class NamedLabels implements AggregateLabels {
  private readonly ids = new Map<string, number>();
  private readonly clusters: string[] = [''];
  private readonly workloads: WorkloadNames[] = [NO_WORKLOAD];
  private readonly labelSets: string[][] = [[]];
  private readonly policyNames: string[] = [''];
  private readonly nodes: string[] = [''];

  private id<T>(kind: string, key: string, list: T[], value: () => T): number {
    const k = `${kind}\0${key}`;
    let id = this.ids.get(k);
    if (id === undefined) {
      id = list.push(value()) - 1;
      this.ids.set(k, id);
    }
    return id;
  }

  clusterId(name: string): number {
    return name === '' ? 0 : this.id('c', name, this.clusters, () => name);
  }

  workloadId(namespace: string, name: string): number {
    return this.id('w', `${namespace}\0${name}`, this.workloads, () => ({ cluster: '', namespace, name, kind: '' }));
  }

  /** A label set by its hash ('0': no endpoint), its labels from `labels` the first time. */
  labelSetId(hash: string, labels: () => string[]): number {
    return hash === '0' ? 0 : this.id('l', hash, this.labelSets, labels);
  }

  /** denied_by as stored: '' for none, else '=' and the policies' names. */
  policyId(deniedBy: string): number {
    return deniedBy === '' ? 0 : this.id('p', deniedBy, this.policyNames, () => deniedBy.slice(1));
  }

  nodeId(name: string): number | null {
    return name === '' ? null : this.id('n', name, this.nodes, () => name);
  }

  workload(id: number): WorkloadNames {
    return this.workloads[id] ?? NO_WORKLOAD;
  }

  cluster(id: number): string {
    return this.clusters[id] ?? '';
  }

  policies(deniedBy: number): string {
    return this.policyNames[deniedBy] ?? '';
  }

  labelSet(id: number): string[] {
    return this.labelSets[id] ?? [];
  }

  node(id: number): string {
    return this.nodes[id] ?? '';
  }
}

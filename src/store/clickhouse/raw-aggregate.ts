import { decodeEndpoint, workloadOf } from '../../flows/endpoint.js';
import { DictKind } from '../../flows/row.js';
import type { Interner } from '../../flows/scan.js';
import { Accumulator, aggregateBudgetExceeded } from '../../query/accumulator.js';
import type { AggregateQuery, AggregateResult } from '../../query/accumulator.js';
import { ByteKeyCache } from '../../flows/byte-key-cache.js';
import { clusterOfNode } from '../../flows/node-name.js';
import { rollupPort } from '../rollup-dims.js';
import { NamedLabels } from './named-labels.js';
import { visitRange } from './flows.js';
import type { ClickHouseHttp } from './http.js';
import { labelSetHash } from './label-sets.js';
import { deniedPolicyInfo } from '../../flows/denial.js';

/** Decoded endpoints and nodes remembered by their bytes. */
const CACHE_ENTRIES = 100_000;

/**
 * The scanner's Interner for raw aggregates: endpoints, nodes and denying
 * policies become the ids of the names they group under (NamedLabels), each
 * decoded once per distinct value.
 */
class AggregateInterner implements Interner {
  private readonly endpoints = new ByteKeyCache<{ workload: number; labelSet: number }>(CACHE_ENTRIES);
  private readonly nodes = new ByteKeyCache<{ id: number; cluster: number }>(CACHE_ENTRIES);
  private readonly policies = new ByteKeyCache<number>(CACHE_ENTRIES);

  constructor(private readonly labels: NamedLabels) {}

  intern(kind: DictKind, buf: Buffer, start: number, end: number): number {
    if (kind !== DictKind.PolicyDenied) return 0;
    let id = this.policies.get(buf, start, end);
    if (id === undefined) {
      id = this.labels.policyId(`=${deniedPolicyInfo(buf.subarray(start, end)).names}`);
      this.policies.set(buf, start, end, id);
    }
    return id;
  }

  endpoint(buf: Buffer, start: number, end: number): { id: number; workload: number; labelSet: number } {
    let ep = this.endpoints.get(buf, start, end);
    if (!ep) {
      const info = decodeEndpoint(buf.subarray(start, end));
      const w = workloadOf(info);
      const json = JSON.stringify(info.labels);
      ep = { workload: this.labels.workloadId(w.namespace, w.name), labelSet: this.labels.labelSetId(labelSetHash(json).toString(), () => info.labels) };
      this.endpoints.set(buf, start, end, ep);
    }
    return { id: 0, ...ep };
  }

  node(buf: Buffer, start: number, end: number): { id: number; cluster: number } {
    let node = this.nodes.get(buf, start, end);
    if (!node) {
      const name = buf.toString('utf8', start, end);
      node = { id: this.labels.nodeId(name) ?? 0, cluster: this.labels.clusterId(clusterOfNode(name)) };
      this.nodes.set(buf, start, end, node);
    }
    return node;
  }
}

/**
 * An aggregate whose filter the rollups cannot answer (IPs, pod prefixes,
 * labels, L7, CEL…): the range's matching flows are read in time order and
 * counted here from their wire bytes, under the same dimensions and
 * Accumulator as SQLite's raw aggregates, within the query budget.
 */
export async function aggregateRawClickHouse(ch: ClickHouseHttp, q: AggregateQuery): Promise<AggregateResult> {
  const labels = new NamedLabels();
  const interner = new AggregateInterner(labels);
  const acc = new Accumulator(q, labels);
  const since = { seconds: q.sinceMinute * 60, nanos: 0 };
  const until = { seconds: q.untilMinute * 60 - 1, nanos: 999_999_999 };
  const ended = await visitRange(ch, { filters: q.filters, since, until, deadline: q.deadline }, (flow) => {
    const row = flow.row(interner);
    // A stored flow that cannot be read back is left out, as in a page.
    if (row) {
      acc.add({
        minute: Math.floor(row.seconds / 60), cluster: row.cluster, verdict: row.verdict, dropReason: row.dropReason, direction: row.direction,
        eventType: row.eventType ?? 0, srcWorkload: row.srcWorkload, dstWorkload: row.dstWorkload, srcLabels: row.srcLabels, dstLabels: row.dstLabels,
        port: rollupPort(row), l4: row.l4, deniedBy: row.deniedBy ?? 0, node: row.node === 0 ? null : row.node,
      }, 1);
    }
    return true;
  });
  if (ended === 'deadline') throw aggregateBudgetExceeded();
  return acc.result('raw');
}

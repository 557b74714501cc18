import { decodeEndpoint, workloadOf } from '../../flows/endpoint.js';
import { scanEnvelope } from '../../flows/envelope.js';
import { DictKind } from '../../flows/row.js';
import { scanFlow } from '../../flows/scan.js';
import type { Interner } from '../../flows/scan.js';
import { Accumulator, aggregateBudgetExceeded } from '../../query/accumulator.js';
import type { AggregateQuery, AggregateResult } from '../../query/accumulator.js';
import { ByteKeyCache } from '../byte-key-cache.js';
import { clusterOfNode } from '../dictionary.js';
import { rollupPort } from '../rollup.js';
import { NamedLabels } from './named-labels.js';
import { queryClickHouseFlows } from './flows.js';
import type { ClickHousePosition, RawFlow } from './flows.js';
import type { ClickHouseHttp } from './http.js';
import { labelSetHash } from './label-sets.js';
import { policyInfoOf } from './metric-names.js';

/** Flows read per page. */
const PAGE = 10_000;
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
      id = this.labels.policyId(`=${policyInfoOf(buf.subarray(start, end)).names}`);
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
  let after: ClickHousePosition | null = null;
  for (;;) {
    const page: { flows: RawFlow[]; next: ClickHousePosition | null; truncated: boolean } = await queryClickHouseFlows(ch, {
      filters: q.filters, since, until, order: 'asc', limit: PAGE, after, deadline: q.deadline, read: (flow) => flow,
    });
    if (page.truncated) throw aggregateBudgetExceeded();
    for (const flow of page.flows) {
      let row;
      try {
        const env = scanEnvelope(flow.response, 0, flow.response.length);
        row = scanFlow(flow.response, env.start, env.end, interner);
      } catch {
        continue; // a stored flow that cannot be read back is left out, as in a page
      }
      acc.add({
        minute: Math.floor(row.seconds / 60), cluster: row.cluster, verdict: row.verdict, dropReason: row.dropReason, direction: row.direction,
        eventType: row.eventType ?? 0, srcWorkload: row.srcWorkload, dstWorkload: row.dstWorkload, srcLabels: row.srcLabels, dstLabels: row.dstLabels,
        port: rollupPort(row), l4: row.l4, deniedBy: row.deniedBy ?? 0, node: row.node === 0 ? null : row.node,
      }, 1);
    }
    if (!page.next) break;
    if (q.deadline.passed()) throw aggregateBudgetExceeded();
    after = page.next;
  }
  return acc.result('raw');
}

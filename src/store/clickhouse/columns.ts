import { decodeEndpoint, workloadOf } from '../../flows/endpoint.js';
import { DictKind, RowBits } from '../../flows/row.js';
import type { FlowRow } from '../../flows/row.js';
import { scanFlow, unpackUuid } from '../../flows/scan.js';
import type { Interner } from '../../flows/scan.js';
import { ByteKeyCache } from '../../flows/byte-key-cache.js';
import { uuidHash } from './uuid-hash.js';
import { ENDPOINT_KIND, classHash, valueHash } from './class-hash.js';
import type { ValueHash } from './class-hash.js';
import { clusterOfNode } from '../../flows/node-name.js';
import { deniedPolicyInfo } from '../../flows/denial.js';
import type { MetricNameInterner } from './metric-names.js';
import { rowBinaryString } from './row-binary.js';
import type { EncodedString, RowBinaryWriter } from './row-binary.js';
import type { LabelSets } from './label-sets.js';

/**
 * The flows table's columns (migrations/clickhouse), in insert order, and how
 * each comes from a flow. The filter columns hold what Hubble's filters look
 * at, read from the flow's wire bytes by the same scanner the SQLite writer
 * uses; `response` holds the GetFlowsResponse as received, which every answer
 * is decoded from, so a narrowing column can only ever select too much, never
 * change what a flow says.
 */
export const FLOW_COLUMNS = [
  'time_ns', 'seq', 'relay', 'node', 'uuid', 'verdict', 'drop_reason', 'direction', 'event_type', 'is_reply',
  'src_namespace', 'src_pod', 'src_identity', 'dst_namespace', 'dst_pod', 'dst_identity', 'l4', 'src_port', 'dst_port', 'response',
  'cluster', 'src_workload', 'dst_workload', 'src_label_set', 'dst_label_set', 'denied_by', 'uuid_hash',
  'src_cluster', 'dst_cluster', 'class_hash',
] as const;

/**
 * An endpoint's columns; its strings encoded for RowBinary once, when the
 * endpoint is first seen (most flows' endpoints were seen before).
 */
interface EndpointColumns {
  /** Endpoint.cluster_name */
  cluster: EncodedString;
  namespace: EncodedString;
  pod: EncodedString;
  identity: number;
  /** Its workload's id for flow metrics (MetricNameInterner) */
  workload: number;
  /** Its first workload's name, as rollups group it */
  workloadName: EncodedString;
  /** Its label set (0 for no endpoint), as rollups group it; its labels are in label_sets */
  labelSet: bigint;
  /** Its bytes' hashes, for the class hash */
  hash: ValueHash;
}

interface NodeColumns {
  name: EncodedString;
  clusterName: EncodedString;
  /** Its cluster's id for flow metrics */
  cluster: number;
}

const EMPTY = rowBinaryString('');
const NO_ENDPOINT: EndpointColumns = { cluster: EMPTY, namespace: EMPTY, pod: EMPTY, identity: 0, workload: 0, workloadName: EMPTY, labelSet: 0n, hash: { a: 0, b: 0 } };
/** Endpoints and node names remembered by their bytes (cleared when full). */
const CACHE_ENTRIES = 50_000;

/**
 * The scanner's Interner for ClickHouse: endpoints and node names become the
 * columns they fill (decoded once per distinct value, remembered by their
 * bytes); workloads, clusters and denying policies get the metric ids flow
 * metrics count by; every other value is left in the response bytes. The
 * endpoint and node ids handed to the scanner index this flow's only.
 */
class ColumnInterner implements Interner {
  private readonly endpointCache = new ByteKeyCache<EndpointColumns>(CACHE_ENTRIES);
  private readonly nodeCache = new ByteKeyCache<NodeColumns>(CACHE_ENTRIES);
  private readonly deniedCache = new ByteKeyCache<{ column: EncodedString; id: number }>(CACHE_ENTRIES);
  readonly endpoints: EndpointColumns[] = [];
  readonly nodes: NodeColumns[] = [];
  /** This flow's denied_by column */
  deniedBy = EMPTY;
  /** Where this flow's other interned values are, by the id handed out (hashed only if the class hash names them) */
  private readonly values: Array<{ kind: DictKind; buf: Buffer; start: number; end: number }> = [];

  constructor(
    private readonly names: MetricNameInterner,
    private readonly labelSets: LabelSets,
  ) {}

  intern(kind: DictKind, buf: Buffer, start: number, end: number): number {
    if (kind !== DictKind.PolicyDenied) return this.values.push({ kind, buf, start, end }) - 1;
    let denied = this.deniedCache.get(buf, start, end);
    if (denied === undefined) {
      const info = deniedPolicyInfo(buf.subarray(start, end));
      denied = { column: rowBinaryString(`=${info.names}`), id: this.names.policies(info) };
      this.deniedCache.set(buf, start, end, denied);
    }
    this.deniedBy = denied.column;
    return denied.id;
  }

  endpoint(buf: Buffer, start: number, end: number): { id: number; workload: number; labelSet: number } {
    let ep = this.endpointCache.get(buf, start, end);
    if (!ep) {
      const info = decodeEndpoint(buf.subarray(start, end));
      const workload = workloadOf(info);
      ep = {
        cluster: rowBinaryString(info.cluster_name), namespace: rowBinaryString(info.namespace), pod: rowBinaryString(info.pod_name), identity: info.identity >>> 0,
        workload: this.names.workload(workload), workloadName: rowBinaryString(workload.name), labelSet: this.labelSets.id(JSON.stringify(info.labels)),
        hash: valueHash(ENDPOINT_KIND, buf, start, end),
      };
      this.endpointCache.set(buf, start, end, ep);
    }
    return { id: this.endpoints.push(ep) - 1, workload: ep.workload, labelSet: 0 };
  }

  node(buf: Buffer, start: number, end: number): { id: number; cluster: number } {
    let node = this.nodeCache.get(buf, start, end);
    if (node === undefined) {
      const name = buf.toString('utf8', start, end);
      const clusterName = clusterOfNode(name);
      node = { name: rowBinaryString(name), clusterName: rowBinaryString(clusterName), cluster: this.names.cluster(clusterName) };
      this.nodeCache.set(buf, start, end, node);
    }
    return { id: this.nodes.push(node) - 1, cluster: node.cluster };
  }

  /** The hashes of this flow's interned value `id`, and of its endpoint `id` (for the class hash). */
  private readonly valueHashOf = (id: number): ValueHash => {
    const v = this.values[id];
    return valueHash(v.kind, v.buf, v.start, v.end);
  };
  private readonly endpointHashOf = (id: number): ValueHash => this.endpoints[id].hash;

  /** This flow's class hash (class-hash.ts). */
  classHash(row: FlowRow): bigint {
    return classHash(row, this.valueHashOf, this.endpointHashOf);
  }

  /** Forgets the last flow's endpoints, nodes and values (the caches stay). */
  next(): void {
    this.endpoints.length = 0;
    this.nodes.length = 0;
    this.values.length = 0;
    this.deniedBy = EMPTY;
  }
}

/** One flow read for its row: the scanned row and its endpoints' columns. */
export interface ScannedFlow {
  row: FlowRow;
  node: EncodedString;
  /** The node's cluster ('' without a node) */
  cluster: EncodedString;
  deniedBy: EncodedString;
  src: EndpointColumns;
  dst: EndpointColumns;
  classHash: bigint;
}

export class FlowScanner {
  private readonly interner: ColumnInterner;

  constructor(names: MetricNameInterner, labelSets: LabelSets) {
    this.interner = new ColumnInterner(names, labelSets);
  }

  /** Scans the Flow message at buf[start, end). Throws WireError when it is malformed. */
  scan(buf: Buffer, start: number, end: number): ScannedFlow {
    this.interner.next();
    const row = scanFlow(buf, start, end, this.interner);
    const { endpoints, nodes } = this.interner;
    const node = row.node === null ? null : nodes[row.node];
    return {
      row,
      node: node?.name ?? EMPTY,
      cluster: node?.clusterName ?? EMPTY,
      deniedBy: this.interner.deniedBy,
      src: row.srcEp === null ? NO_ENDPOINT : endpoints[row.srcEp],
      dst: row.dstEp === null ? NO_ENDPOINT : endpoints[row.dstEp],
      classHash: this.interner.classHash(row),
    };
  }
}

/** is_reply as the FlowRecord normalises it: the field when sent, else the deprecated `reply`. */
function isReply(bits: number): boolean {
  return (bits & RowBits.IsReplyPresent) !== 0 ? (bits & RowBits.IsReplyValue) !== 0 : (bits & RowBits.LegacyReply) !== 0;
}

/** Appends one flow's row to a RowBinary insert, in FLOW_COLUMNS order. */
export function writeFlowRow(w: RowBinaryWriter, f: ScannedFlow, timeNs: bigint, seq: bigint, relay: EncodedString, response: Uint8Array): void {
  const r = f.row;
  w.uint64(timeNs);
  w.uint64(seq);
  w.encoded(relay);
  w.encoded(f.node);
  // The uuid is in the response; its column stays empty and uuid_hash narrows lookups (migration 003).
  w.encoded(EMPTY);
  w.uint8(r.verdict & 0xff);
  w.uint16(r.dropReason & 0xffff);
  w.uint8(r.direction & 0xff);
  w.int32(r.eventType ?? 0);
  w.uint8(isReply(r.bits) ? 1 : 0);
  w.encoded(f.src.namespace);
  w.encoded(f.src.pod);
  w.uint32(f.src.identity);
  w.encoded(f.dst.namespace);
  w.encoded(f.dst.pod);
  w.uint32(f.dst.identity);
  w.uint8(r.l4);
  w.uint16(r.srcPort ?? 0);
  w.uint16(r.dstPort ?? 0);
  w.bytes(response);
  w.encoded(f.cluster);
  w.encoded(f.src.workloadName);
  w.encoded(f.dst.workloadName);
  w.uint64(f.src.labelSet);
  w.uint64(f.dst.labelSet);
  w.encoded(f.deniedBy);
  w.uint16(uuidHash(r.uuid === null ? '' : unpackUuid(r.uuid)));
  w.encoded(f.src.cluster);
  w.encoded(f.dst.cluster);
  w.uint64(f.classHash);
}

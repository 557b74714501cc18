import { Deadline } from '../../query/deadline.js';
import type { DictionaryLookup } from '../../flows/materialize.js';
import type { FlowRecord } from '../../flows/record.js';
import type { DictKind } from '../../flows/row.js';
import { listPartitions, tableName, timeOfRowid, usedBytes } from './partitions.js';
import { onPartition, runFlowQuery } from './flow-query.js';
import type { Db } from './sqlite.js';
import type { FlowTime } from '../../flows/record.js';
import type { StoreStats } from '../facts.js';
import type { RelayLostEvents } from '../writes.js';

const READ_CACHE_LIMIT = 50_000;
/** Every time a stored flow can have (the valid google.protobuf.Timestamp range from 1970). */
const ALL_TIME = { since: { seconds: 0, nanos: 0 }, until: { seconds: 253_402_300_799, nanos: 999_999_999 } };

/** Dictionary lookups for readers, cached (entries never change once written). */
export class ReaderDictionary implements DictionaryLookup {
  private readonly values = new Map<number, Buffer>();
  private readonly endpoints = new Map<number, Buffer>();
  private readonly nodes = new Map<number, string>();
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      value: db.prepare('SELECT value FROM dict WHERE id = ? AND kind = ?').pluck(),
      endpoint: db.prepare('SELECT raw FROM endpoints WHERE id = ?').pluck(),
      node: db.prepare('SELECT name FROM nodes WHERE id = ?').pluck(),
    };
  }

  value(kind: DictKind, id: number): Buffer {
    return cached(this.values, id, () => this.stmts.value.get(id, kind) as Buffer | undefined, `dict ${kind}/${id}`);
  }

  endpoint(id: number): Buffer {
    return cached(this.endpoints, id, () => this.stmts.endpoint.get(id) as Buffer | undefined, `endpoint ${id}`);
  }

  nodeName(id: number): string {
    return cached(this.nodes, id, () => this.stmts.node.get(id) as string | undefined, `node ${id}`);
  }
}

function cached<V>(map: Map<number, V>, id: number, load: () => V | undefined, what: string): V {
  let v = map.get(id);
  if (v !== undefined) return v;
  v = load();
  if (v === undefined) throw new Error(`store is inconsistent: ${what} is referenced but missing`);
  if (map.size >= READ_CACHE_LIMIT) map.clear();
  map.set(id, v);
  return v;
}

export interface FlowRange {
  limit: number;
  order: 'asc' | 'desc';
}

/**
 * Read access to the store for the API, status and tests. Opens its own
 * connection; never writes. (Filtered queries build on this in query/.)
 */
export class FlowReader {
  readonly dict: ReaderDictionary;

  constructor(private readonly db: Db) {
    this.dict = new ReaderDictionary(db);
  }

  partitions(): number[] {
    return listPartitions(this.db);
  }

  /** The first `limit` stored flows in time order (oldest or newest first), unfiltered. */
  flows(range: FlowRange): FlowRecord[] {
    return runFlowQuery(this.db, this.dict, {
      where: { sql: '1', params: [] }, recheck: null, since: ALL_TIME.since, until: ALL_TIME.until,
      order: range.order, limit: range.limit, after: null, deadline: Deadline.NEVER,
    }).flows;
  }

  /** Time of the oldest ('asc') or newest ('desc') stored flow; reads only row ids. */
  edge(order: 'asc' | 'desc'): FlowTime | null {
    const hours = this.partitions();
    if (order === 'desc') hours.reverse();
    for (const hour of hours) {
      const id = onPartition(() => this.db.prepare(`SELECT id FROM ${tableName(hour)} ORDER BY id ${order === 'desc' ? 'DESC' : 'ASC'} LIMIT 1`).pluck().get() as number | undefined, undefined);
      if (id !== undefined) return timeOfRowid(hour, id);
    }
    return null;
  }

  /** Flows stored (from the per-partition counters the writer keeps). */
  count(): number {
    return this.db.prepare('SELECT coalesce(sum(flows), 0) FROM partitions').pluck().get() as number;
  }

  checkpoints(): Record<string, FlowTime> {
    const rows = this.db.prepare('SELECT relay, seconds, nanos FROM checkpoints').all() as ({ relay: string } & FlowTime)[];
    return Object.fromEntries(rows.map((r) => [r.relay, { seconds: r.seconds, nanos: r.nanos }]));
  }

  /** (cluster, namespace) of the workloads with rolled-up flows since `minute` (UTC minutes), sorted. */
  namespacesSince(minute: number): { cluster: string; namespace: string }[] {
    return this.db.prepare(`
      SELECT DISTINCT cluster, namespace FROM workloads
      WHERE namespace != '' AND id IN (SELECT src_workload FROM rollup_1m WHERE minute >= ? UNION SELECT dst_workload FROM rollup_1m WHERE minute >= ?)
      ORDER BY cluster, namespace`).all(minute, minute) as { cluster: string; namespace: string }[];
  }

  /** Stored flows per node name (partitions written before migration 004 are not counted). */
  flowsPerNode(): Map<string, number> {
    const rows = this.db.prepare('SELECT n.name AS name, sum(p.flows) AS flows FROM partition_nodes p JOIN nodes n ON n.id = p.node GROUP BY n.name').all() as { name: string; flows: number }[];
    return new Map(rows.map((r) => [r.name, r.flows]));
  }

  /** Every node name flows were stored from. */
  nodeNames(): string[] {
    return this.db.prepare('SELECT name FROM nodes ORDER BY name').pluck().all() as string[];
  }

  lostEvents(): RelayLostEvents[] {
    return this.db
      .prepare('SELECT relay, source, node, sum(events) AS events FROM lost_events GROUP BY relay, source, node')
      .all() as RelayLostEvents[];
  }

  stats(fileBytes: number): StoreStats {
    return {
      usedBytes: usedBytes(this.db),
      fileBytes,
      partitions: this.partitions().length,
      flows: this.count(),
      oldest: this.edge('asc'),
      newest: this.edge('desc'),
    };
  }
}

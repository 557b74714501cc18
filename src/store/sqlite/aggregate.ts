import type { Deadline } from '../../query/deadline.js';
import type { AggregateLabels, AggregateRow, GroupDimension } from '../../query/aggregate.js';
import { rollupWhere } from '../../query/aggregate.js';
import type { FilterSet } from '../../query/filter.js';
import type { DictionaryIndex } from '../../query/model.js';
import { DictKind } from '../../flows/row.js';
import { rollupPort } from '../rollup-dims.js';
import { listPartitions, partitionOf, rowidOf, tableName, timeOfRowid } from './partitions.js';
import type { ReaderDictionary } from './reader.js';
import type { Db } from './sqlite.js';
import type { Statement } from 'better-sqlite3';
import { AdaptiveSlicer, RECHECK_DEADLINE_EVERY, prepareOnPartition, readableRecord } from './flow-query.js';
import { ROW_SELECT, unpackRow } from './row-select.js';
import type { IdRow } from './row-select.js';
import { deniedPolicyInfo } from '../../flows/denial.js';
import { NO_WORKLOAD } from '../../flows/endpoint.js';
import type { WorkloadNames } from '../../flows/endpoint.js';
import type { PolicyInfo } from '../../flows/denial.js';
import { Accumulator, EMPTY_ROW, aggregateBudgetExceeded } from '../../query/accumulator.js';
import type { AggregateQuery, AggregateResult } from '../../query/accumulator.js';

export type { AggregateGroup, AggregateQuery, AggregateResult } from '../../query/accumulator.js';

function memo<V>(map: Map<number, V>, id: number, load: () => V): V {
  let v = map.get(id);
  if (v === undefined) {
    v = load();
    map.set(id, v);
  }
  return v;
}

type EndpointGroups = { workload: number; labelSet: number };
const NO_ENDPOINT: EndpointGroups = { workload: 0, labelSet: 0 };

/** Id → name lookups for aggregate keys and metric labels, cached; entries never change once written. */
export class StoreAggregateLabels implements AggregateLabels {
  private readonly workloads = new Map<number, WorkloadNames>();
  private readonly clusters = new Map<number, string>();
  private readonly policyInfos = new Map<number, PolicyInfo>();
  private readonly labelSets = new Map<number, string[]>();
  private readonly endpoints = new Map<number, EndpointGroups>();
  private readonly nodeClusters = new Map<number, number>();
  private readonly stmts;

  constructor(
    db: Db,
    private readonly dict: ReaderDictionary,
  ) {
    this.stmts = {
      workload: db.prepare('SELECT cluster, namespace, name, kind FROM workloads WHERE id = ?'),
      cluster: db.prepare('SELECT name FROM clusters WHERE id = ?').pluck(),
      labelSet: db.prepare('SELECT labels FROM label_sets WHERE id = ?').pluck(),
      endpoint: db.prepare('SELECT workload_id AS workload, label_set AS labelSet FROM endpoints WHERE id = ?'),
      nodeCluster: db.prepare('SELECT cluster_id FROM nodes WHERE id = ?').pluck(),
    };
  }

  workload(id: number): WorkloadNames {
    return memo(this.workloads, id, () => (this.stmts.workload.get(id) as WorkloadNames | undefined) ?? NO_WORKLOAD);
  }

  cluster(id: number): string {
    return memo(this.clusters, id, () => (this.stmts.cluster.get(id) as string | undefined) ?? '');
  }

  policies(deniedBy: number): string {
    return this.policyInfo(deniedBy).names;
  }

  /** Every denying policy's name, and the first one's namespace and kind. */
  policyInfo(deniedBy: number): PolicyInfo {
    return memo(this.policyInfos, deniedBy, () => deniedPolicyInfo(this.dict.value(DictKind.PolicyDenied, deniedBy)));
  }

  labelSet(id: number): string[] {
    return memo(this.labelSets, id, () => JSON.parse((this.stmts.labelSet.get(id) as string | undefined) ?? '[]') as string[]);
  }

  node(id: number): string {
    return this.dict.nodeName(id);
  }

  /** The workload and label set an endpoint is rolled up under (0s for no endpoint). */
  endpointGroups(id: number | null): EndpointGroups {
    return id === null ? NO_ENDPOINT : memo(this.endpoints, id, () => (this.stmts.endpoint.get(id) as EndpointGroups | undefined) ?? NO_ENDPOINT);
  }

  clusterOfNode(id: number | null): number {
    return id === null ? 0 : memo(this.nodeClusters, id, () => (this.stmts.nodeCluster.get(id) as number | undefined) ?? 0);
  }
}

/** AggregateRow field → rollup_1m column. */
const ROLLUP_COLUMNS: Record<string, string> = {
  cluster: 'cluster', verdict: 'verdict', dropReason: 'drop_reason', direction: 'direction', eventType: 'event_type',
  srcWorkload: 'src_workload', dstWorkload: 'dst_workload', srcLabels: 'src_labels', dstLabels: 'dst_labels', port: 'dst_port', l4: 'l4', deniedBy: 'denied_by',
};
/** The rollup WHERE clause when rollups can answer these dimensions and filters, else null. */
function rollupFilter(dims: GroupDimension[], filters: FilterSet): ReturnType<typeof rollupWhere> {
  return dims.every((d) => d.rollup) ? rollupWhere(filters) : null;
}

/** True when an aggregate over these dimensions and filters is answered from rollups (no raw scan). */
export function answersFromRollups(dims: GroupDimension[], filters: FilterSet): boolean {
  return rollupFilter(dims, filters) !== null;
}

/**
 * The first minute whose rollups know label sets: rollups written before
 * migration 003 do not (null: every stored minute does).
 */
function labelRollupsFrom(db: Db): number | null {
  return (db.prepare("SELECT value FROM store_facts WHERE key = 'label_rollups_from_minute'").pluck().get() as number | null | undefined) ?? null;
}

/**
 * Counts flows per group over whole minutes, from rollups when the dimensions
 * and filters allow it, from raw partitions otherwise (same answer either way).
 * Label groupings over minutes rolled up before label sets were kept scan raw
 * flows for those minutes and read rollups for the rest.
 */
export function runAggregate(db: Db, dict: ReaderDictionary, labels: StoreAggregateLabels, index: DictionaryIndex, q: AggregateQuery): AggregateResult {
  const acc = new Accumulator(q, labels);
  const rollup = rollupFilter(q.dims, q.filters);
  let rawUntil = rollup ? q.sinceMinute : q.untilMinute;
  if (rollup && q.dims.some((d) => d.reads.includes('srcLabels') || d.reads.includes('dstLabels'))) rawUntil = Math.min(q.untilMinute, Math.max(q.sinceMinute, labelRollupsFrom(db) ?? q.sinceMinute));
  if (rawUntil > q.sinceMinute) aggregateRaw(db, dict, labels, index, q, acc, q.sinceMinute, rawUntil);
  if (rollup && rawUntil < q.untilMinute) aggregateRollups(db, q, rollup, acc, rawUntil, q.untilMinute);
  return acc.result(rawUntil > q.sinceMinute ? 'raw' : 'rollup');
}

/** Counts rollup rows of minutes [sinceMinute, untilMinute). */
function aggregateRollups(db: Db, q: AggregateQuery, rollup: NonNullable<ReturnType<typeof rollupWhere>>, acc: Accumulator, sinceMinute: number, untilMinute: number): void {
  // Group in SQLite by just the columns the dimensions read; JS then labels the (few) groups.
  const fields = [...new Set(q.dims.flatMap((d) => d.reads))] as (keyof typeof ROLLUP_COLUMNS)[];
  const select = fields.map((f) => `${ROLLUP_COLUMNS[f]} AS ${f}`);
  const groupBy = fields.map((f) => ROLLUP_COLUMNS[f]);
  const params: unknown[] = [];
  if (q.bucketMinutes) {
    select.push('minute - (minute % ?) AS minute');
    groupBy.push('minute - (minute % ?)');
    params.push(q.bucketMinutes);
  }
  const stmt = db.prepare(`SELECT ${[...select, 'sum(flows) AS flows'].join(', ')} FROM rollup_1m
    WHERE minute >= ? AND minute < ? AND ${rollup.sql}${groupBy.length ? ` GROUP BY ${groupBy.join(', ')}` : ''}`);
  // Minutes in chunks sized to ~20 ms of SQL each, so the budget holds over long ranges too.
  const chunks = new AdaptiveSlicer(ROLLUP_CHUNK_START_MINUTES, 1, untilMinute - sinceMinute);
  for (const [a, b] of chunks.slices(sinceMinute, untilMinute, () => checkDeadline(q.deadline))) {
    const rows = stmt.all(...params, a, b, ...rollup.params, ...(q.bucketMinutes ? [q.bucketMinutes] : [])) as (Partial<AggregateRow> & { flows: number })[];
    for (const r of rows) acc.add({ ...EMPTY_ROW, ...r }, r.flows);
  }
}

/** Rollup minutes the first chunk of a rollup aggregate covers. */
const ROLLUP_CHUNK_START_MINUTES = 60;

function checkDeadline(deadline: Deadline): void {
  if (deadline.passed()) throw aggregateBudgetExceeded();
}

/** Rows of [lo, hi) in time slices, checking the deadline between slices (one SQL statement never runs for long). */
function* slicedRows(stmt: Statement, lo: number, hi: number, params: unknown[], slicer: AdaptiveSlicer, deadline: Deadline, whole: boolean): Generator<IdRow> {
  for (const [a, b] of slicer.slices(lo, hi, () => checkDeadline(deadline))) {
    if (!whole) yield* stmt.iterate(a, b, ...params) as Iterable<IdRow>;
    else for (const raw of stmt.raw(true).iterate(a, b, ...params) as Iterable<unknown[]>) yield unpackRow(raw);
  }
}

/** Counts raw flows of minutes [sinceMinute, untilMinute). */
function aggregateRaw(db: Db, dict: ReaderDictionary, labels: StoreAggregateLabels, index: DictionaryIndex, q: AggregateQuery, acc: Accumulator, sinceMinute: number, untilMinute: number): void {
  const { where, exact } = q.filters.sql(index);
  const slicer = new AdaptiveSlicer();
  const since = sinceMinute * 60;
  const until = untilMinute * 60;
  for (const hour of listPartitions(db)) {
    if (hour < partitionOf(since) || hour > partitionOf(until - 1)) continue;
    const lo = rowidOf(hour, since, 0);
    const hi = rowidOf(hour, until, 0);
    const columns = exact ? 'id, verdict, drop_reason, direction, event_type, src_ep, dst_ep, node, dst_port, bits, l4, denied_by' : ROW_SELECT;
    const stmt = prepareOnPartition(db, `SELECT ${columns} FROM ${tableName(hour)} WHERE id >= ? AND id < ? AND ${where.sql}`);
    if (!stmt) continue;
    let n = 0;
    for (const r of slicedRows(stmt, lo, hi, where.params, slicer, q.deadline, !exact)) {
      // Rows re-checked in JS (CEL, regexes) may cost milliseconds each: check the deadline often then.
      if ((++n & (exact ? 0xfff : RECHECK_DEADLINE_EVERY)) === 0) checkDeadline(q.deadline);
      const t = timeOfRowid(hour, r.id);
      if (!exact) {
        r.seconds = t.seconds;
        r.nanos = t.nanos;
        const flow = readableRecord(r, dict);
        if (flow === null || !q.filters.match(flow)) continue;
      }
      const src = labels.endpointGroups(r.src_ep);
      const dst = labels.endpointGroups(r.dst_ep);
      acc.add(
        {
          minute: Math.floor(t.seconds / 60),
          cluster: labels.clusterOfNode(r.node),
          verdict: r.verdict,
          dropReason: r.drop_reason,
          direction: r.direction,
          eventType: r.event_type ?? 0,
          srcWorkload: src.workload,
          dstWorkload: dst.workload,
          srcLabels: src.labelSet,
          dstLabels: dst.labelSet,
          port: rollupPort({ bits: r.bits, dstPort: r.dst_port }),
          l4: r.l4,
          deniedBy: r.denied_by ?? 0,
          node: r.node,
        },
        1,
      );
    }
  }
}

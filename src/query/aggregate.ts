import type { WorkloadNames } from '../flows/endpoint.js';
import { DEFAULT_DENY, POLICY_DROP_EVENT, isPolicyDenial, isPolicyDropEvent } from '../flows/denial.js';
import { FlowkeeperError } from '../errors.js';
import { Enums } from './enums.js';
import { L4_NAMES } from '../flows/row.js';
import type { CompiledFilter, FilterSet } from './filter.js';
import { allOf, anyOf } from './model.js';
import type { SqlFragment } from './model.js';

/**
 * Aggregation dimensions. Each reads one value from an AggregateRow, which
 * rollup rows and raw rows both provide, so the two paths give identical answers.
 */
export interface AggregateRow {
  minute: number;
  cluster: number;
  verdict: number;
  dropReason: number;
  direction: number;
  eventType: number;
  srcWorkload: number;
  dstWorkload: number;
  /** Label set ids of the endpoints (0: no endpoint). */
  srcLabels: number;
  dstLabels: number;
  port: number;
  l4: number;
  deniedBy: number;
  /** Raw rows only. */
  node?: number | null;
}

/** Names for ids, provided by the store. */
export interface AggregateLabels {
  workload(id: number): WorkloadNames;
  cluster(id: number): string;
  policies(deniedBy: number): string;
  labelSet(id: number): string[];
  node(id: number): string;
}

export interface GroupDimension {
  name: string;
  /** Answerable from rollup_1m (label dimensions, which read srcLabels/dstLabels: from the minutes whose rollups know label sets). */
  rollup: boolean;
  /** AggregateRow fields value() reads (rollup queries GROUP BY exactly these). */
  reads: (keyof AggregateRow)[];
  value(row: AggregateRow, labels: AggregateLabels): string | number;
}

const DROPPED = Enums.Verdict.values.DROPPED;

const enumName = (e: { valuesById: Record<number, string> }, n: number): string => e.valuesById[n] ?? String(n);
const workloadName = (w: { namespace: string; name: string; kind: string }): string => (w.name ? `${w.namespace}/${w.name}` : w.namespace);


/**
 * The denying policy of a flow: the policies it names; "default-deny" for a
 * policy-verdict event that denied without naming a policy (no rule allowed
 * the flow); "drop-event" for the drop event Cilium emits beside a denial (it
 * names no policy and is not attributed, so denials are not counted twice);
 * "" for a flow that is no policy denial.
 */
export function policyLabel(row: Pick<AggregateRow, 'deniedBy' | 'verdict' | 'dropReason' | 'eventType'>, labels: AggregateLabels): string {
  if (row.deniedBy) return labels.policies(row.deniedBy);
  if (isPolicyDenial(row.verdict, row.eventType, row.dropReason)) return DEFAULT_DENY;
  if (isPolicyDropEvent(row.verdict, row.eventType, row.dropReason)) return POLICY_DROP_EVENT;
  return '';
}

const DIMENSIONS: Record<string, GroupDimension> = {
  verdict: { name: 'verdict', rollup: true, reads: ['verdict'], value: (r) => enumName(Enums.Verdict, r.verdict) },
  drop_reason: { name: 'drop_reason', rollup: true, reads: ['dropReason'], value: (r) => (r.dropReason ? enumName(Enums.DropReason, r.dropReason) : '') },
  traffic_direction: { name: 'traffic_direction', rollup: true, reads: ['direction'], value: (r) => enumName(Enums.TrafficDirection, r.direction) },
  type: { name: 'type', rollup: true, reads: ['eventType'], value: (r) => r.eventType },
  cluster: { name: 'cluster', rollup: true, reads: ['cluster'], value: (r, l) => l.cluster(r.cluster) },
  source_namespace: { name: 'source_namespace', rollup: true, reads: ['srcWorkload'], value: (r, l) => l.workload(r.srcWorkload).namespace },
  destination_namespace: { name: 'destination_namespace', rollup: true, reads: ['dstWorkload'], value: (r, l) => l.workload(r.dstWorkload).namespace },
  source_workload: { name: 'source_workload', rollup: true, reads: ['srcWorkload'], value: (r, l) => workloadName(l.workload(r.srcWorkload)) },
  destination_workload: { name: 'destination_workload', rollup: true, reads: ['dstWorkload'], value: (r, l) => workloadName(l.workload(r.dstWorkload)) },
  destination_port: { name: 'destination_port', rollup: true, reads: ['port'], value: (r) => r.port },
  protocol: { name: 'protocol', rollup: true, reads: ['l4'], value: (r) => (r.l4 ? (L4_NAMES[r.l4] ?? String(r.l4)) : '') },
  policy: { name: 'policy', rollup: true, reads: ['deniedBy', 'verdict', 'dropReason', 'eventType'], value: (r, l) => policyLabel(r, l) },
  node: { name: 'node', rollup: false, reads: ['node'], value: (r, l) => (r.node ? l.node(r.node) : '') },
};

const LABEL_DIM = /^(source|destination)_label:([A-Za-z0-9][-A-Za-z0-9_./]*)$/;
export const MAX_GROUP_BY = 6;

/** Parses group_by: known dimension names plus `source_label:KEY` / `destination_label:KEY`. */
export function parseGroupBy(text: string | undefined): GroupDimension[] {
  const names = (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', 'group_by: at least one dimension is needed', 'group_by');
  if (names.length > MAX_GROUP_BY) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `group_by: at most ${MAX_GROUP_BY} dimensions`, 'group_by');
  return names.map((n) => {
    if (DIMENSIONS[n]) return DIMENSIONS[n];
    const m = LABEL_DIM.exec(n);
    if (m) return labelDimension(n, m[1] === 'source' ? 'srcLabels' : 'dstLabels', m[2]);
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `group_by: unknown dimension "${n}" (${Object.keys(DIMENSIONS).join(', ')}, source_label:KEY, destination_label:KEY)`, 'group_by');
  });
}

/**
 * Groups by the value of label KEY (any source: `k8s:app=x` and `app=x` both
 * give "x"; "" when the endpoint has no such label or is absent).
 */
function labelDimension(name: string, side: 'srcLabels' | 'dstLabels', key: string): GroupDimension {
  const prefix = `${key}=`;
  return {
    name,
    rollup: true,
    reads: [side],
    value: (r, l) => {
      if (!r[side]) return '';
      const found = l.labelSet(r[side]).find((lab) => lab.slice(lab.indexOf(':') + 1).startsWith(prefix));
      return found ? found.slice(found.indexOf('=') + 1) : '';
    },
  };
}

/** How one engine writes the conditions rollups are filtered by (SQLite: SQL with parameters over ids; ClickHouse: SQL literals over names). */
export interface RollupDialect<C> {
  /** A rollup column among `values` */
  inList(column: 'verdict' | 'drop_reason' | 'direction' | 'event_type', values: number[]): C;
  /** The source or destination workload is in one of these namespaces */
  inNamespaces(side: 'src' | 'dst', namespaces: string[]): C;
  all(parts: C[]): C;
  any(parts: C[]): C;
  not(part: C): C;
}

/**
 * The filter set as a condition over an engine's rollups, or null when rollups
 * cannot answer it exactly (then raw flows are aggregated instead). Which
 * filter fields rollups answer, and how, is defined once here for every engine.
 */
export function rollupCondition<C>(filters: FilterSet, d: RollupDialect<C>): C | null {
  const parts: C[] = [];
  if (filters.whitelist.length > 0) {
    const ors = filters.whitelist.map((f) => rollupFilterCondition(f, d));
    if (ors.some((o) => o === null)) return null;
    parts.push(d.any(ors as C[]));
  }
  for (const f of filters.blacklist) {
    const not = rollupFilterCondition(f, d);
    if (not === null) return null;
    parts.push(d.not(not));
  }
  return d.all(parts);
}

/** One FlowFilter over rollup columns, or null when a field is not a rollup dimension. */
function rollupFilterCondition<C>(f: CompiledFilter, d: RollupDialect<C>): C | null {
  const ands: C[] = [];
  for (const [field, value] of Object.entries(f.fields)) {
    const list = value as unknown[];
    if (!Array.isArray(list) || list.length === 0) continue;
    if (field === 'verdict') ands.push(d.inList('verdict', list as number[]));
    else if (field === 'drop_reason_desc') ands.push(d.all([d.inList('drop_reason', list as number[]), d.inList('verdict', [DROPPED])]));
    else if (field === 'traffic_direction') ands.push(d.inList('direction', list as number[]));
    else if (field === 'event_type' && (list as { match_sub_type?: boolean; type?: number }[]).every((e) => !e.match_sub_type && e.type)) {
      // Type 0 is a wildcard over flows that carry an event type, which rollups cannot tell apart: raw scan.
      ands.push(d.inList('event_type', (list as { type: number }[]).map((e) => e.type)));
    } else if ((field === 'source_pod' || field === 'destination_pod') && (list as string[]).every((p) => /^[^/]+\/$/.test(p))) {
      ands.push(d.inNamespaces(field === 'source_pod' ? 'src' : 'dst', (list as string[]).map((p) => p.slice(0, -1))));
    } else return null;
  }
  return d.all(ands);
}

const inParams = (sql: string, values: unknown[]): SqlFragment => ({ sql: `${sql} IN (${values.map(() => '?').join(', ')})`, params: values });

/** SQLite's rollup_1m: ids, with workloads looked up by namespace. */
const SQLITE_ROLLUPS: RollupDialect<SqlFragment> = {
  inList: (column, values) => inParams(column, values),
  inNamespaces: (side, namespaces) => {
    const ns = inParams('namespace', namespaces);
    return { sql: `${side}_workload IN (SELECT id FROM workloads WHERE ${ns.sql})`, params: ns.params };
  },
  all: allOf,
  any: anyOf,
  not: (c) => ({ sql: `NOT (${c.sql})`, params: c.params }),
};

/** The filter set as a condition over SQLite's rollup_1m, or null when rollups cannot answer it exactly. */
export function rollupWhere(filters: FilterSet): SqlFragment | null {
  return rollupCondition(filters, SQLITE_ROLLUPS);
}

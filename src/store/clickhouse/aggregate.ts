import type { AggregateRow, GroupDimension, RollupDialect } from '../../query/aggregate.js';
import { rollupCondition } from '../../query/aggregate.js';
import { Accumulator, EMPTY_ROW, aggregateBudgetExceeded } from '../../query/accumulator.js';
import { aggregateRawClickHouse } from './raw-aggregate.js';
import { NamedLabels } from './named-labels.js';
import type { AggregateQuery, AggregateResult } from '../../query/accumulator.js';
import type { ClickHouseHttp } from './http.js';
import { stringLiteral } from './where.js';
import { readTables } from './cluster.js';
import { readLabelSets } from './label-sets.js';

/** flows_1m columns (migrations/clickhouse/002) each AggregateRow field is read from. */
const COLUMNS: Record<Exclude<keyof AggregateRow, 'minute'>, string[]> = {
  cluster: ['cluster'], verdict: ['verdict'], dropReason: ['drop_reason'], direction: ['direction'], eventType: ['event_type'],
  srcWorkload: ['src_namespace', 'src_workload'], dstWorkload: ['dst_namespace', 'dst_workload'], srcLabels: ['src_label_set'], dstLabels: ['dst_label_set'],
  port: ['port'], l4: ['l4'], deniedBy: ['denied_by'], node: ['node'],
};

const integers = (values: number[]): string => values.map((v) => String(Math.trunc(Number(v)))).join(', ');

/** ClickHouse's flows_1m: names, so a namespace is a column. */
export const CLICKHOUSE_ROLLUPS: RollupDialect<string> = {
  inList: (column, values) => `${column} IN (${integers(values)})`,
  inNamespaces: (side, namespaces) => `${side}_namespace IN (${namespaces.map(stringLiteral).join(', ')})`,
  all: (parts) => (parts.length === 0 ? '1' : `(${parts.join(' AND ')})`),
  any: (parts) => `(${parts.join(' OR ')})`,
  not: (c) => `NOT ${c}`,
};

type RollupRow = Record<string, string | number> & { flows: string; minute?: number };

/**
 * An aggregate from ClickHouse's rollups (flows_1m, kept by a materialized
 * view): ClickHouse groups by the columns the dimensions read, and the groups
 * are labelled and counted by the same code as SQLite's. Every dimension is in
 * the rollups (node too); a filter they cannot answer exactly (anything beyond
 * verdict, drop reason, direction, event type and whole namespaces) counts raw
 * flows instead (aggregateRawClickHouse).
 */
export async function aggregateClickHouse(ch: ClickHouseHttp, q: AggregateQuery): Promise<AggregateResult> {
  const where = rollupCondition(q.filters, CLICKHOUSE_ROLLUPS);
  if (where === null) return aggregateRawClickHouse(ch, q);
  const fields = [...new Set(q.dims.flatMap((d: GroupDimension) => d.reads))].filter((f): f is Exclude<keyof AggregateRow, 'minute'> => f !== 'minute');
  const columns = [...new Set(fields.flatMap((f) => COLUMNS[f]))];
  const select = [...columns];
  const groupBy = [...columns];
  if (q.bucketMinutes) {
    select.push(`intDiv(minute, ${q.bucketMinutes}) * ${q.bucketMinutes} AS bucket`);
    groupBy.push('bucket');
  }
  const sql = `SELECT ${[...select, 'sum(flows) AS flows'].join(', ')} FROM ${readTables(ch.settings).rollups} WHERE minute >= ${q.sinceMinute} AND minute < ${q.untilMinute} AND ${where}`
    + (groupBy.length ? ` GROUP BY ${groupBy.join(', ')}` : '');
  const rows = await ch.rows<RollupRow>(sql);
  if (q.deadline.passed()) throw aggregateBudgetExceeded();
  const labels = new NamedLabels();
  const acc = new Accumulator(q, labels);
  const labelSets = fields.includes('srcLabels') || fields.includes('dstLabels')
    ? await readLabelSets(ch, readTables(ch.settings).labelSets, [...new Set(rows.flatMap((r) => [r.src_label_set, r.dst_label_set]).filter((h) => h !== undefined && h !== '0').map(String))])
    : new Map<string, string[]>();
  for (const r of rows) {
    const flows = Number(r.flows);
    if (flows === 0) continue;
    const row: AggregateRow = { ...EMPTY_ROW, minute: Number(r.bucket ?? 0) };
    for (const f of fields) {
      if (f === 'cluster') row.cluster = labels.clusterId(String(r.cluster));
      else if (f === 'srcWorkload') row.srcWorkload = labels.workloadId(String(r.src_namespace), String(r.src_workload));
      else if (f === 'dstWorkload') row.dstWorkload = labels.workloadId(String(r.dst_namespace), String(r.dst_workload));
      else if (f === 'srcLabels') row.srcLabels = labels.labelSetId(String(r.src_label_set), () => labelSets.get(String(r.src_label_set)) ?? []);
      else if (f === 'dstLabels') row.dstLabels = labels.labelSetId(String(r.dst_label_set), () => labelSets.get(String(r.dst_label_set)) ?? []);
      else if (f === 'deniedBy') row.deniedBy = labels.policyId(String(r.denied_by));
      else if (f === 'node') row.node = labels.nodeId(String(r.node));
      else row[f] = Number(r[COLUMNS[f][0]]);
    }
    acc.add(row, flows);
  }
  return acc.result('rollup');
}

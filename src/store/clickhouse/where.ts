import type { CompiledFilter, FilterSet } from '../../query/filter.js';
import { parseNamespacedName } from '../../query/dims-endpoint.js';
import { Enums } from '../../query/enums.js';

/**
 * A FilterSet as a ClickHouse WHERE condition that selects at least every
 * matching flow: the fields below narrow the scan, and every row read is then
 * judged by the filter itself (FilterSet.match, the one definition the SQLite
 * store and the live stream use too). A field missing here only costs rows
 * read; a field here must never drop a flow the filter would keep, which the
 * differential tests check against SQLite.
 */

/** A string as a ClickHouse literal (single-quoted, backslash escapes). */
export function stringLiteral(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function integers(values: unknown[]): number[] | null {
  const out: number[] = [];
  for (const v of values) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]{1,10}$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) return null;
    out.push(n);
  }
  return out;
}

function inList(column: string, values: number[]): string {
  return `${column} IN (${values.join(', ')})`;
}

type FieldCompiler = (values: unknown[]) => string | null;

const DROPPED = Enums.Verdict.values.DROPPED;
/** L4 codes that carry ports (TCP, UDP, SCTP), as the port filters require. */
const PORTED = '(1, 2, 5)';

function numbers(column: string): FieldCompiler {
  return (values) => {
    const list = integers(values);
    return list ? inList(column, list) : null;
  };
}

function ports(column: string): FieldCompiler {
  return (values) => {
    const list = integers(values);
    return list ? `(l4 IN ${PORTED} AND ${inList(column, list)})` : null;
  };
}

function pods(namespaceColumn: string, podColumn: string): FieldCompiler {
  return (values) => {
    const parts = (values as string[]).map((v) => {
      const p = parseNamespacedName(v, 'pod');
      const prefix = Buffer.byteLength(p.prefix);
      const name = prefix === 0 ? '1' : `substring(${podColumn}, 1, ${prefix}) = ${stringLiteral(p.prefix)}`;
      return p.namespace === null ? name : `(${namespaceColumn} = ${stringLiteral(p.namespace)} AND ${name})`;
    });
    return `(${parts.join(' OR ')})`;
  };
}

/** FlowFilter fields pushed down to ClickHouse, each to the columns it reads. */
const FIELDS: Record<string, FieldCompiler> = {
  verdict: numbers('verdict'),
  traffic_direction: numbers('direction'),
  drop_reason_desc: (values) => {
    const list = integers(values);
    return list ? `(verdict = ${DROPPED} AND ${inList('drop_reason', list)})` : null;
  },
  source_identity: numbers('src_identity'),
  destination_identity: numbers('dst_identity'),
  source_port: ports('src_port'),
  destination_port: ports('dst_port'),
  source_pod: pods('src_namespace', 'src_pod'),
  destination_pod: pods('dst_namespace', 'dst_pod'),
  uuid: (values) => `uuid IN (${(values as string[]).map(stringLiteral).join(', ')})`,
};

function filterCondition(f: CompiledFilter): string {
  const parts: string[] = [];
  for (const [field, values] of Object.entries(f.fields)) {
    const compile = FIELDS[field];
    if (!compile || !Array.isArray(values) || values.length === 0) continue;
    const sql = compile(values);
    if (sql !== null) parts.push(sql);
  }
  return parts.length ? `(${parts.join(' AND ')})` : '1';
}

/** The whitelist as a narrowing condition (the blacklist is left to FilterSet.match: NOT of a superset is no superset). */
export function clickhouseWhere(filters: FilterSet): string {
  if (filters.whitelist.length === 0) return '1';
  return `(${filters.whitelist.map(filterCondition).join(' OR ')})`;
}

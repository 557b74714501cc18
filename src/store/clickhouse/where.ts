import type { CompiledFilter, FilterSet } from '../../query/filter.js';
import { parseNamespacedName } from '../../query/dims-endpoint.js';
import { Enums } from '../../query/enums.js';
import { uuidHash } from './uuid-hash.js';

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
  uuid: (values) => `uuid_hash IN (${[...new Set((values as string[]).map(uuidHash))].join(', ')})`,
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

/** Fields whose condition above selects exactly the flows the filter keeps (checked by the differential tests). */
function exactField(field: string, values: unknown[]): boolean {
  if (field === 'verdict' || field === 'traffic_direction' || field === 'drop_reason_desc') return integers(values) !== null;
  // A whole namespace ("ns/"): the column holds the endpoint's namespace as the filter reads it.
  if (field === 'source_pod' || field === 'destination_pod') return (values as unknown[]).every((v) => typeof v === 'string' && /^[^/]+\/$/.test(v));
  return false;
}

/**
 * The whitelist as a narrowing condition (the blacklist is left to
 * FilterSet.match: NOT of a superset is no superset), and whether it is exact:
 * no blacklist and only fields exactFields vouches for, so rows need no
 * judging (and no decoding) after ClickHouse selected them.
 */
export function clickhouseWhere(filters: FilterSet): { sql: string; exact: boolean } {
  const exact = filters.blacklist.length === 0 && filters.whitelist.every((f) => Object.entries(f.fields).every(([field, values]) => !Array.isArray(values) || values.length === 0 || exactField(field, values)));
  if (filters.whitelist.length === 0) return { sql: '1', exact };
  return { sql: `(${filters.whitelist.map(filterCondition).join(' OR ')})`, exact };
}

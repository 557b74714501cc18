import { compileNodeNamePatterns } from './patterns.js';
import type { FlowRecord } from '../flows/record.js';
import { DictKind, RowBits } from '../flows/row.js';
import { packUuid } from '../flows/scan.js';
import { Enums, enumNumber } from './enums.js';
import { parseLabelSelector } from './labels.js';
import { allOf, anyOf, field, idsIn, obj, strings } from './model.js';
import type { Dimension, SqlFragment } from './model.js';

function numberIn(column: string, values: number[]): SqlFragment {
  return { sql: `${column} IN (${values.map(() => '?').join(', ')})`, params: values };
}

function enumDimension(name: string, key: string, e: { values: Record<string, number> }, column: string, values: number[]): Dimension {
  return {
    name,
    match: (flow) => values.includes(enumNumber(e, flow[key])),
    sql: () => numberIn(column, values),
  };
}

export const verdictDimension = (values: number[]): Dimension => enumDimension('verdict', 'verdict', Enums.Verdict, 'verdict', values);
export const directionDimension = (values: number[]): Dimension =>
  enumDimension('traffic_direction', 'traffic_direction', Enums.TrafficDirection, 'direction', values);
/** Hubble's drop_reason_desc filter only matches DROPPED flows. */
export function dropReasonDimension(values: number[]): Dimension {
  const DROPPED = Enums.Verdict.values.DROPPED;
  const reason = enumDimension('drop_reason_desc', 'drop_reason_desc', Enums.DropReason, 'drop_reason', values);
  return {
    name: reason.name,
    match: (flow) => enumNumber(Enums.Verdict, flow.verdict) === DROPPED && reason.match(flow),
    sql: (index) => allOf([{ sql: `verdict = ${DROPPED}`, params: [] }, reason.sql(index)!]),
  };
}

export function ipVersionDimension(values: number[]): Dimension {
  return {
    name: 'ip_version',
    match: (flow) => values.includes(enumNumber(Enums.IPVersion, field(flow.IP, 'ipVersion'))),
    sql: () => numberIn('ip_version', values),
  };
}

/** A flow without an IP header counts as not encrypted (Go's zero value). */
export function encryptedDimension(values: boolean[]): Dimension {
  return {
    name: 'encrypted',
    match: (flow) => values.includes(field(flow.IP, 'encrypted') === true),
    sql: () => ({ sql: `((bits & ${RowBits.IpEncrypted}) != 0) IN (${values.map(() => '?').join(', ')})`, params: values.map(Number) }),
  };
}

/** `{type, match_sub_type, sub_type}`: type equal (type 0 = any type), and sub_type too when match_sub_type is set. */
export function eventTypeDimension(filters: { type: number; match_sub_type: boolean; sub_type: number }[]): Dimension {
  return {
    name: 'event_type',
    match: (flow) => {
      const et = obj(flow.event_type);
      if (!et) return false;
      const type = typeof et.type === 'number' ? et.type : 0;
      const sub = typeof et.sub_type === 'number' ? et.sub_type : 0;
      return filters.some((f) => (f.type === 0 || f.type === type) && (!f.match_sub_type || f.sub_type === sub));
    },
    sql: () => {
      const parts = filters.map((f) => {
        const conds: SqlFragment[] = [{ sql: 'event_type IS NOT NULL', params: [] }];
        if (f.type !== 0) conds.push({ sql: 'event_type = ?', params: [f.type] });
        if (f.match_sub_type) conds.push({ sql: 'coalesce(event_sub, 0) = ?', params: [f.sub_type] });
        return allOf(conds);
      });
      return anyOf(parts);
    },
  };
}

/**
 * Hubble's reply filter matches is_reply; a flow that does not say never
 * matches, except that a DROPPED flow without is_reply counts as not a reply.
 */
export function replyDimension(values: boolean[]): Dimension {
  const DROPPED = Enums.Verdict.values.DROPPED;
  const P = RowBits.IsReplyPresent, V = RowBits.IsReplyValue, L = RowBits.LegacyReply;
  return {
    name: 'reply',
    match: (flow) => {
      if (typeof flow.is_reply === 'boolean') return values.includes(flow.is_reply);
      return enumNumber(Enums.Verdict, flow.verdict) === DROPPED && values.includes(false);
    },
    sql: () => {
      const parts: string[] = [];
      if (values.includes(true)) parts.push(`((bits & ${P}) != 0 AND (bits & ${V}) != 0)`, `((bits & ${P}) = 0 AND (bits & ${L}) != 0)`);
      if (values.includes(false)) parts.push(`((bits & ${P}) != 0 AND (bits & ${V}) = 0)`, `((bits & ${P | L}) = 0 AND verdict = ${DROPPED})`);
      return { sql: `(${parts.join(' OR ')})`, params: [] };
    },
  };
}

/** UUIDs compared as strings; `""` matches a flow without one (Go's zero value). */
export function uuidDimension(values: string[]): Dimension {
  const set = values.filter((v) => v !== '');
  const orAbsent = set.length < values.length;
  return {
    name: 'uuid',
    match: (flow) => values.includes(typeof flow.uuid === 'string' ? flow.uuid : ''),
    sql: () => {
      const parts: SqlFragment[] = [];
      if (set.length) {
        parts.push({
          sql: `uuid IN (${set.map(() => '?').join(', ')})`,
          params: set.map((v) => {
            const b = Buffer.from(v, 'utf8');
            return packUuid(b, 0, b.length);
          }),
        });
      }
      if (orAbsent) parts.push({ sql: "(uuid IS NULL OR uuid = '')", params: [] });
      return anyOf(parts);
    },
  };
}

export function nodeNameDimension(patterns: string[]): Dimension {
  const pattern = compileNodeNamePatterns(patterns, 'node_name');
  return {
    name: 'node_name',
    match: (flow) => typeof flow.node_name === 'string' && pattern.test(flow.node_name),
    sql: (index) => idsIn('node', index.nodeIds((name) => pattern.test(name))),
  };
}

export function nodeLabelsDimension(selectors: string[]): Dimension {
  const parsed = selectors.map((s) => parseLabelSelector(s, 'node_labels'));
  const test = (labels: string[]): boolean => parsed.some((sel) => sel(labels));
  return {
    name: 'node_labels',
    match: (flow) => test(strings(flow.node_labels)),
    sql: (index) => {
      const ids = idsIn('node_labels', index.valueIds(DictKind.NodeLabels, (v) => typeof v === 'object' && test(strings(v.node_labels))));
      // A flow without node labels still has to be judged against an empty list (e.g. "!key").
      return test([]) ? { sql: `(node_labels IS NULL OR ${ids.sql})`, params: ids.params } : ids;
    },
  };
}

export function interfaceDimension(filters: { index?: number; name?: string }[]): Dimension {
  const test = (iface: { index?: unknown; name?: unknown } | undefined): boolean =>
    iface !== undefined && filters.some((f) => (!f.index || iface.index === f.index) && (!f.name || iface.name === f.name));
  return {
    name: 'interface',
    match: (flow) => test(obj(flow.interface)),
    sql: (index) => idsIn('iface', index.valueIds(DictKind.Interface, (v) => typeof v === 'object' && test(v))),
  };
}

export function traceIdDimension(values: string[]): Dimension {
  return {
    name: 'trace_id',
    match: (flow) => {
      // A flow without a trace context has trace id "" (Go's zero value).
      const id = field(field(flow.trace_context, 'parent'), 'trace_id');
      return values.includes(typeof id === 'string' ? id : '');
    },
    sql: () => null,
  };
}

export function ipTraceIdDimension(values: string[]): Dimension {
  return {
    name: 'ip_trace_id',
    // A flow without an IP trace id has id 0 (Go's zero value); uint64 ids arrive as decimal strings.
    match: (flow) => values.includes(String(field(flow.ip_trace_id, 'trace_id') ?? '0')),
    sql: () => null,
  };
}


export type { FlowRecord };

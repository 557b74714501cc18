import { compileGlob } from './patterns.js';
import { FlowkeeperError } from '../errors.js';
import type { FlowRecord } from '../flows/record.js';
import { DictKind, RowBits } from '../flows/row.js';
import { packUuid } from '../flows/scan.js';
import { Enums, enumNumber } from './enums.js';
import { parseLabelSelector } from './labels.js';
import { field, idsIn, obj, strings } from './model.js';
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
export const dropReasonDimension = (values: number[]): Dimension =>
  enumDimension('drop_reason_desc', 'drop_reason_desc', Enums.DropReason, 'drop_reason', values);

export function ipVersionDimension(values: number[]): Dimension {
  return {
    name: 'ip_version',
    match: (flow) => values.includes(enumNumber(Enums.IPVersion, field(flow.IP, 'ipVersion'))),
    sql: () => numberIn('ip_version', values),
  };
}

export function encryptedDimension(values: boolean[]): Dimension {
  return {
    name: 'encrypted',
    match: (flow) => values.includes(field(flow.IP, 'encrypted') === true),
    sql: () => ({ sql: `((bits & ${RowBits.IpEncrypted}) != 0) IN (${values.map(() => '?').join(', ')})`, params: values.map(Number) }),
  };
}

/** `{type, match_sub_type, sub_type}`: type equal, and sub_type too when match_sub_type is set. */
export function eventTypeDimension(filters: { type: number; match_sub_type: boolean; sub_type: number }[]): Dimension {
  return {
    name: 'event_type',
    match: (flow) => {
      const et = obj(flow.event_type);
      if (!et) return false;
      const type = typeof et.type === 'number' ? et.type : 0;
      const sub = typeof et.sub_type === 'number' ? et.sub_type : 0;
      return filters.some((f) => f.type === type && (!f.match_sub_type || f.sub_type === sub));
    },
    sql: () => ({
      sql: `(${filters.map((f) => (f.match_sub_type ? '(event_type = ? AND event_sub = ?)' : 'event_type = ?')).join(' OR ')})`,
      params: filters.flatMap((f) => (f.match_sub_type ? [f.type, f.sub_type] : [f.type])),
    }),
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

export function uuidDimension(values: string[]): Dimension {
  return {
    name: 'uuid',
    match: (flow) => typeof flow.uuid === 'string' && values.includes(flow.uuid),
    sql: () => ({
      sql: `uuid IN (${values.map(() => '?').join(', ')})`,
      params: values.map((v) => {
        const b = Buffer.from(v, 'utf8');
        return packUuid(b, 0, b.length);
      }),
    }),
  };
}

/**
 * Node name patterns: `k8s*`, `cluster/*.domain.com`, `cluster/`. A node name
 * without a cluster is taken as `default/<name>`; a pattern without "/" matches
 * the node part in any cluster.
 */
export function nodeNameMatcher(patterns: string[]): (node: string) => boolean {
  const glob = (g: string): { test: (s: string) => boolean } => ({ test: compileGlob(g, 'node_name', '[-a-z0-9_]') });
  const parsed = patterns.map((p) => {
    const slash = p.indexOf('/');
    if (slash < 0) return { cluster: null, node: glob(p) };
    return { cluster: glob(p.slice(0, slash)), node: p.slice(slash + 1) === '' ? null : glob(p.slice(slash + 1)) };
  });
  return (name) => {
    const full = name.includes('/') ? name : `default/${name}`;
    const slash = full.indexOf('/');
    const cluster = full.slice(0, slash);
    const node = full.slice(slash + 1);
    return parsed.some((p) => (p.cluster === null || p.cluster.test(cluster)) && (p.node === null || p.node.test(node)));
  };
}

export function nodeNameDimension(patterns: string[]): Dimension {
  const test = nodeNameMatcher(patterns);
  return {
    name: 'node_name',
    match: (flow) => typeof flow.node_name === 'string' && test(flow.node_name),
    sql: (index) => idsIn('node', index.nodeIds(test)),
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
      const id = field(field(flow.trace_context, 'parent'), 'trace_id');
      return typeof id === 'string' && values.includes(id);
    },
    sql: () => null,
  };
}

export function ipTraceIdDimension(values: string[]): Dimension {
  return {
    name: 'ip_trace_id',
    match: (flow) => values.includes(String(field(flow.ip_trace_id, 'trace_id') ?? '')),
    sql: () => null,
  };
}

export function rejectCel(): never {
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', 'experimental.cel_expression: CEL filters are not supported by flowkeeper', 'experimental');
}

export type { FlowRecord };

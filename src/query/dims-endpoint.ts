import { FlowkeeperError } from '../errors.js';
import type { JsonObject } from '../flows/jsonpb.js';
import { DictKind } from '../flows/row.js';
import { parseLabelSelector } from './labels.js';
import { compileFqdnPatterns } from './patterns.js';
import { ipMatcher } from './addresses.js';
import { field, idsIn, obj, strings } from './model.js';
import type { Dimension, SqlFragment } from './model.js';

export type Side = 'source' | 'destination';
const EP_COLUMN: Record<Side, string> = { source: 'src_ep', destination: 'dst_ep' };

function endpointDimension(name: string, side: Side, test: (ep: JsonObject) => boolean): Dimension {
  return {
    name,
    match: (flow) => {
      const ep = obj(flow[side]);
      return ep !== undefined && test(ep);
    },
    sql: (index) => idsIn(EP_COLUMN[side], index.endpointIds(test)),
  };
}

/**
 * Hubble's `[namespace/]name-prefix`: "ns/" is the whole namespace, "/prefix"
 * any namespace, and a bare "prefix" means namespace "default".
 */
export function parseNamespacedName(pattern: string, parameter: string): { namespace: string | null; prefix: string } {
  if (pattern === '') throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: empty pod/service pattern`, parameter);
  // As Hubble splits it: "a/b/c" is namespace "a", name prefix "b".
  const parts = pattern.split('/');
  if (parts.length === 1) return { namespace: 'default', prefix: pattern };
  return { namespace: parts[0] === '' ? null : parts[0], prefix: parts[1] };
}

function namespacedMatcher(patterns: string[], parameter: string, nameKey: string): (o: JsonObject) => boolean {
  const parsed = patterns.map((p) => parseNamespacedName(p, parameter));
  return (o) => {
    const ns = typeof o.namespace === 'string' ? o.namespace : '';
    const name = typeof o[nameKey] === 'string' ? (o[nameKey] as string) : '';
    if (ns === '' && name === '') return false;
    return parsed.some((p) => (p.namespace === null || p.namespace === ns) && name.startsWith(p.prefix));
  };
}

export function podDimension(side: Side, patterns: string[]): Dimension {
  return endpointDimension(`${side}_pod`, side, namespacedMatcher(patterns, `${side}_pod`, 'pod_name'));
}

/** Label selectors; a flow without that endpoint is judged on an empty label set (as in Hubble). */
export function labelDimension(side: Side, selectors: string[]): Dimension {
  const parsed = selectors.map((s) => parseLabelSelector(s, `${side}_label`));
  const test = (labels: string[]): boolean => parsed.some((sel) => sel(labels));
  const matchesNone = test([]);
  return {
    name: `${side}_label`,
    match: (flow) => test(strings(obj(flow[side])?.labels)),
    sql: (index) => {
      const ids = idsIn(EP_COLUMN[side], index.endpointIds((ep) => test(strings(ep.labels))));
      return matchesNone ? { sql: `(${EP_COLUMN[side]} IS NULL OR ${ids.sql})`, params: ids.params } : ids;
    },
  };
}

export function workloadDimension(side: Side, workloads: { name?: string; kind?: string }[]): Dimension {
  return endpointDimension(`${side}_workload`, side, (ep) => {
    const list = Array.isArray(ep.workloads) ? (ep.workloads as JsonObject[]) : [];
    return workloads.some((w) => list.some((have) => (!w.name || have.name === w.name) && (!w.kind || have.kind === w.kind)));
  });
}

export function identityDimension(side: Side, identities: number[]): Dimension {
  return endpointDimension(`${side}_identity`, side, (ep) => identities.includes(typeof ep.identity === 'number' ? ep.identity : 0));
}

export function clusterDimension(side: Side, patterns: string[]): Dimension {
  // Hubble compares cluster names exactly, and refuses an empty one.
  if (patterns.includes('')) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${side}_cluster_name: a cluster name must not be empty`, `${side}_cluster_name`);
  return endpointDimension(`${side}_cluster_name`, side, (ep) => patterns.includes(typeof ep.cluster_name === 'string' ? ep.cluster_name : ''));
}

export function serviceDimension(side: Side, patterns: string[]): Dimension {
  const key = side === 'source' ? 'source_service' : 'destination_service';
  const test = namespacedMatcher(patterns, key, 'name');
  return {
    name: key,
    match: (flow) => {
      const svc = obj(flow[key]);
      return svc !== undefined && test(svc);
    },
    sql: (index) => idsIn(side === 'source' ? 'src_service' : 'dst_service', index.valueIds(DictKind.Service, (v) => typeof v === 'object' && test(v))),
  };
}

const IP_KEYS = { source: 'source', destination: 'destination', source_xlated: 'source_xlated' } as const;
const IP_COLUMNS = { source: 'src_ip', destination: 'dst_ip', source_xlated: 'src_xlated' } as const;

export function ipDimension(which: keyof typeof IP_KEYS, specs: string[]): Dimension {
  const name = which === 'source_xlated' ? 'source_ip_xlated' : `${which}_ip`;
  const matchers = specs.map((s) => ipMatcher(s, name));
  const test = (ip: string): boolean => matchers.some((m) => m(ip));
  return {
    name,
    match: (flow) => {
      const ip = field(flow.IP, IP_KEYS[which]);
      return typeof ip === 'string' && ip !== '' && test(ip);
    },
    sql: (index) => idsIn(IP_COLUMNS[which], index.valueIds(DictKind.Ip, (v) => typeof v === 'string' && test(v))),
  };
}

export function fqdnDimension(side: Side, patterns: string[]): Dimension {
  const key = side === 'source' ? 'source_names' : 'destination_names';
  const pattern = compileFqdnPatterns(patterns, `${side}_fqdn`);
  const test = (name: string): boolean => pattern.test(name);
  return {
    name: `${side}_fqdn`,
    match: (flow) => strings(flow[key]).some(test),
    sql: (index): SqlFragment =>
      idsIn(side === 'source' ? 'src_names' : 'dst_names', index.valueIds(DictKind.Names, (v) => typeof v === 'object' && strings(v[key]).some(test))),
  };
}

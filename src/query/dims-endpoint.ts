import { FlowkeeperError } from '../errors.js';
import type { JsonObject } from '../flows/jsonpb.js';
import { DictKind } from '../flows/row.js';
import { parseLabelSelector } from './labels.js';
import { compileGlob } from './patterns.js';
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
  const slash = pattern.indexOf('/');
  if (slash < 0) return { namespace: 'default', prefix: pattern };
  const namespace = pattern.slice(0, slash);
  return { namespace: namespace === '' ? null : namespace, prefix: pattern.slice(slash + 1) };
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

export function labelDimension(side: Side, selectors: string[]): Dimension {
  const parsed = selectors.map((s) => parseLabelSelector(s, `${side}_label`));
  return endpointDimension(`${side}_label`, side, (ep) => {
    const labels = strings(ep.labels);
    return parsed.some((sel) => sel(labels));
  });
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
  // Hubble compares cluster names exactly.
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

/** An IP or CIDR (IPv4 or IPv6) as a matcher over address strings. */
export function ipMatcher(spec: string, parameter: string): (ip: string) => boolean {
  const [addr, bitsText] = spec.split('/');
  const bytes = ipBytes(addr);
  const bits = bitsText === undefined ? (bytes ? bytes.length * 8 : NaN) : Number(bitsText);
  if (!bytes || !Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', `${parameter}: "${spec}" is not an IP address or CIDR`, parameter);
  }
  return (ip) => {
    const other = ipBytes(ip);
    if (!other || other.length !== bytes.length) return false;
    for (let i = 0; i < bits; i++) {
      const mask = 0x80 >> (i % 8);
      if ((other[i >> 3] & mask) !== (bytes[i >> 3] & mask)) return false;
    }
    return true;
  };
}

function ipBytes(text: string): number[] | null {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split('.').map(Number);
    return parts.every((p) => p <= 255) ? parts : null;
  }
  if (!text.includes(':') || !/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const [head, tail] = text.split('::');
  if (text.split('::').length > 2) return null;
  const groups = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill(0);
  const all = [...h, ...fill, ...t];
  if (all.length !== 8 || all.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
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

/** FQDN patterns: `*` matches within one DNS label, case-insensitive, trailing dot ignored. */
export function fqdnMatcher(patterns: string[]): (name: string) => boolean {
  const tests = patterns.map((p) => compileGlob(p.replace(/\.$/, ''), 'fqdn', '[-a-z0-9_]'));
  return (name) => {
    const bare = name.replace(/\.$/, '');
    return tests.some((t) => t(bare));
  };
}

export function fqdnDimension(side: Side, patterns: string[]): Dimension {
  const key = side === 'source' ? 'source_names' : 'destination_names';
  const test = fqdnMatcher(patterns);
  return {
    name: `${side}_fqdn`,
    match: (flow) => strings(flow[key]).some(test),
    sql: (index): SqlFragment =>
      idsIn(side === 'source' ? 'src_names' : 'dst_names', index.valueIds(DictKind.Names, (v) => typeof v === 'object' && strings(v[key]).some(test))),
  };
}

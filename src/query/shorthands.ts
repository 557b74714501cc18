import { FlowkeeperError } from '../errors.js';
import { Enums } from './enums.js';
import { EVENT_TYPE_NAMES, RESERVED_IDENTITY_NAMES, TCP_FLAG_NAMES, TRACE_POINT_NAMES } from '../flows/row.js';

/**
 * Query-string shorthands named after `hubble observe` flags, turned into the
 * whitelist/blacklist FlowFilters the CLI would send. Direction-less flags
 * (namespace, pod, ip, label, …) produce two whitelist filters, one for each
 * side, which are ORed; every other flag is copied into both. `not_<flag>`
 * goes to the blacklist.
 */
type Filter = Record<string, unknown[]>;

/** Direction-less flag → [source field, destination field, value transform]. */
const BOTH_SIDES: Record<string, [string, string, (v: string) => unknown]> = {
  namespace: ['source_pod', 'destination_pod', (v) => `${v}/`],
  pod: ['source_pod', 'destination_pod', (v) => v],
  ip: ['source_ip', 'destination_ip', (v) => v],
  label: ['source_label', 'destination_label', (v) => v],
  fqdn: ['source_fqdn', 'destination_fqdn', (v) => v],
  service: ['source_service', 'destination_service', (v) => v],
  identity: ['source_identity', 'destination_identity', (v) => parseIdentity(v)],
  workload: ['source_workload', 'destination_workload', (v) => parseWorkload(v)],
  cluster: ['source_cluster_name', 'destination_cluster_name', (v) => v],
  port: ['source_port', 'destination_port', (v) => v],
};

/** One-sided flags → [FlowFilter field, value transform]. */
const ONE_SIDE: Record<string, [string, (v: string) => unknown]> = {
  from_namespace: ['source_pod', (v) => `${v}/`],
  to_namespace: ['destination_pod', (v) => `${v}/`],
  from_pod: ['source_pod', (v) => v],
  to_pod: ['destination_pod', (v) => v],
  from_ip: ['source_ip', (v) => v],
  to_ip: ['destination_ip', (v) => v],
  snat_ip: ['source_ip_xlated', (v) => v],
  from_label: ['source_label', (v) => v],
  to_label: ['destination_label', (v) => v],
  from_fqdn: ['source_fqdn', (v) => v],
  to_fqdn: ['destination_fqdn', (v) => v],
  from_service: ['source_service', (v) => v],
  to_service: ['destination_service', (v) => v],
  from_identity: ['source_identity', (v) => parseIdentity(v)],
  to_identity: ['destination_identity', (v) => parseIdentity(v)],
  from_workload: ['source_workload', (v) => parseWorkload(v)],
  to_workload: ['destination_workload', (v) => parseWorkload(v)],
  from_cluster: ['source_cluster_name', (v) => v],
  to_cluster: ['destination_cluster_name', (v) => v],
  from_port: ['source_port', (v) => v],
  to_port: ['destination_port', (v) => v],
  verdict: ['verdict', (v) => enumName(Enums.Verdict, v.toUpperCase(), 'verdict')],
  drop_reason_desc: ['drop_reason_desc', (v) => enumName(Enums.DropReason, v.toUpperCase(), 'drop_reason_desc')],
  traffic_direction: ['traffic_direction', (v) => enumName(Enums.TrafficDirection, v.toUpperCase(), 'traffic_direction')],
  protocol: ['protocol', (v) => v],
  type: ['event_type', (v) => parseEventType(v)],
  http_status: ['http_status_code', (v) => v],
  http_method: ['http_method', (v) => v],
  http_path: ['http_path', (v) => v],
  http_url: ['http_url', (v) => v],
  http_header: ['http_header', (v) => parseHeader(v)],
  dns_query: ['dns_query', (v) => v],
  tcp_flags: ['tcp_flags', (v) => parseTcpFlags(v)],
  node_name: ['node_name', (v) => v],
  node_label: ['node_labels', (v) => v],
  ip_version: ['ip_version', (v) => parseIpVersion(v)],
  uuid: ['uuid', (v) => v],
  trace_id: ['trace_id', (v) => v],
  interface: ['interface', (v) => ({ name: v })],
  reply: ['reply', (v) => parseBool(v, 'reply')],
  encrypted: ['encrypted', (v) => parseBool(v, 'encrypted')],
};

export const FILTER_PARAMETERS = [...Object.keys(BOTH_SIDES), ...Object.keys(ONE_SIDE)];

function bad(parameter: string, message: string): never {
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `${parameter}: ${message}`, parameter);
}

function enumName(e: { values: Record<string, number> }, v: string, parameter: string): string {
  if (!(v in e.values)) bad(parameter, `unknown value "${v}" (one of ${Object.keys(e.values).join(', ')})`);
  return v;
}

const IDENTITIES: Record<string, number> = Object.fromEntries(Object.entries(RESERVED_IDENTITY_NAMES).map(([n, name]) => [name, Number(n)]));

function parseIdentity(v: string): number {
  const n = IDENTITIES[v.replace(/^reserved:/, '')] ?? Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) bad('identity', `"${v}" is not a numeric or reserved identity (host, world, ...)`);
  return n;
}

function parseWorkload(v: string): { name: string; kind?: string } {
  const slash = v.indexOf('/');
  return slash < 0 ? { name: v } : { kind: v.slice(0, slash), name: v.slice(slash + 1) };
}

function parseHeader(v: string): { key: string; value: string } {
  const colon = v.indexOf(':');
  if (colon <= 0) bad('http_header', `"${v}" is not key:value`);
  return { key: v.slice(0, colon), value: v.slice(colon + 1) };
}

function parseTcpFlags(v: string): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const f of v.split(',')) {
    const name = f.trim().toUpperCase();
    if (!(TCP_FLAG_NAMES as readonly string[]).includes(name)) bad('tcp_flags', `unknown TCP flag "${f}"`);
    out[name] = true;
  }
  return out;
}

function parseIpVersion(v: string): string {
  const map: Record<string, string> = { v4: 'IPv4', v6: 'IPv6', none: 'IP_NOT_USED', '4': 'IPv4', '6': 'IPv6' };
  return map[v.toLowerCase()] ?? bad('ip_version', `"${v}" is not v4, v6 or none`);
}

function parseBool(v: string, parameter: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  return bad(parameter, `"${v}" is not true or false`);
}

/** Monitor event types by the names `hubble observe -t` takes (§4.1). */
const EVENT_TYPES: Record<string, number> = Object.fromEntries(Object.entries(EVENT_TYPE_NAMES).map(([n, name]) => [name, Number(n)]));

function parseEventType(v: string): { type: number; match_sub_type?: boolean; sub_type?: number } {
  const [name, sub] = v.split(':');
  const type = EVENT_TYPES[name] ?? (/^\d+$/.test(name) ? Number(name) : bad('type', `unknown event type "${name}" (${Object.keys(EVENT_TYPES).join(', ')})`));
  if (sub === undefined) return { type };
  let subType: number;
  if (/^\d+$/.test(sub)) subType = Number(sub);
  else if (type === EVENT_TYPES.trace && (TRACE_POINT_NAMES as readonly string[]).includes(sub)) subType = (TRACE_POINT_NAMES as readonly string[]).indexOf(sub);
  else if (type === EVENT_TYPES.drop && sub.toUpperCase() in Enums.DropReason.values) subType = Enums.DropReason.values[sub.toUpperCase()];
  else return bad('type', `unknown sub-type "${sub}" for ${name}`);
  return { type, match_sub_type: true, sub_type: subType };
}

function add(filter: Filter, field: string, value: unknown): void {
  (filter[field] ??= []).push(value);
}

/**
 * Builds {whitelist, blacklist} from query parameters (each a list of values).
 * Parameters not about filtering are ignored here; unknown ones are the caller's job.
 */
/** The query parameter (as given, `not_` included) that produced FlowFilter `field`, for error messages. */
export function shorthandFor(field: string, params: Record<string, string[]>): string | undefined {
  return Object.keys(params).find((raw) => {
    const name = raw.startsWith('not_') ? raw.slice(4) : raw;
    const both = BOTH_SIDES[name];
    return (both && (both[0] === field || both[1] === field)) || ONE_SIDE[name]?.[0] === field;
  });
}

export function filtersFromQuery(params: Record<string, string[]>): { whitelist: Filter[]; blacklist: Filter[] } {
  const build = (negated: boolean): Filter[] => {
    const left: Filter = {};
    const right: Filter = {};
    let twoSided = false;
    for (const [rawName, values] of Object.entries(params)) {
      if (rawName.startsWith('not_') !== negated) continue;
      const name = negated ? rawName.slice(4) : rawName;
      const both = BOTH_SIDES[name];
      const one = ONE_SIDE[name];
      for (const v of values) {
        if (v === '') bad(rawName, 'empty value');
        if (both) {
          twoSided = true;
          add(left, both[0], both[2](v));
          add(right, both[1], both[2](v));
        } else if (one) {
          const value = one[1](v);
          add(left, one[0], value);
          add(right, one[0], value);
        }
      }
    }
    if (Object.keys(left).length === 0) return [];
    return twoSided ? [left, right] : [left];
  };
  return { whitelist: build(false), blacklist: build(true) };
}

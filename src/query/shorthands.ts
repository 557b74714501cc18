import { FlowkeeperError } from '../errors.js';
import { Enums } from './enums.js';
import { EVENT_TYPE_NAMES, RESERVED_IDENTITY_NAMES, TCP_FLAG_NAMES, TRACE_POINT_NAMES } from '../flows/row.js';

/**
 * Query-string shorthands named after `hubble observe` flags (`from_pod` for
 * `--from-pod`), turned into the FlowFilters the hubble CLI sends, by the
 * CLI's own rules:
 * - a direction-less flag (`pod`, `ip`, `label`, …) fills a "left" filter with
 *   its source field and a "right" one with its destination field (ORed);
 *   every other flag goes into both; equal filters collapse into one;
 * - `namespace`, `from_namespace`, `to_namespace` (and the `*all_namespaces`
 *   forms) qualify the pods and services given, or stand for "any pod in the
 *   namespace" when none are;
 * - flags the CLI refuses together are refused together (its conflict table);
 * - `not_<flag>` builds the blacklist the same way.
 */
type Filter = Record<string, unknown>;
type Side = 'left' | 'right' | 'both';

function bad(parameter: string, message: string): never {
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `${parameter}: ${message}`, parameter);
}

const IDENTITIES: Record<string, number> = Object.fromEntries(Object.entries(RESERVED_IDENTITY_NAMES).map(([n, name]) => [name, Number(n)]));
const EVENT_TYPES: Record<string, number> = Object.fromEntries(Object.entries(EVENT_TYPE_NAMES).map(([n, name]) => [name, Number(n)]));
/** Agent notification sub-types by the names `hubble observe -t agent:NAME` takes. */
const AGENT_SUBTYPES: Record<string, number> = {
  unspecified: 0, message: 1, 'agent-started': 2, 'policy-updated': 3, 'policy-deleted': 4, 'endpoint-regenerate-success': 5,
  'endpoint-regenerate-failure': 6, 'endpoint-created': 7, 'endpoint-deleted': 8, 'ipcache-upserted': 9, 'ipcache-deleted': 10,
};

function parseIdentity(v: string, parameter: string): number {
  const n = IDENTITIES[v] ?? (/^[0-9]+$/.test(v) ? Number(v) : NaN);
  if (!Number.isInteger(n) || n > 0xffffffff) bad(parameter, `"${v}" is not a numeric or reserved identity (${Object.keys(IDENTITIES).join(', ')})`);
  return n;
}

/** `Kind/name`, `name`, `Kind/` (as the CLI's parseWorkload). */
function parseWorkload(v: string): { name?: string; kind?: string } {
  const slash = v.indexOf('/');
  return slash < 0 ? { name: v } : { kind: v.slice(0, slash), name: v.slice(slash + 1) };
}

function parseHeader(v: string, parameter: string): { key: string; value: string } {
  const colon = v.indexOf(':');
  if (colon < 0) bad(parameter, `"${v}" is not name:value`);
  return { key: v.slice(0, colon), value: v.slice(colon + 1) };
}

function parseTcpFlags(v: string, parameter: string): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const f of v.split(',')) {
    const name = f.toUpperCase();
    if (!(TCP_FLAG_NAMES as readonly string[]).includes(name)) bad(parameter, `unknown TCP flag "${f}" (${TCP_FLAG_NAMES.join(', ')})`);
    out[name] = true;
  }
  return out;
}

/** The CLI's spellings; anything else is IP_NOT_USED, as there. */
function parseIpVersion(v: string): string {
  const lower = v.toLowerCase();
  if (['4', 'v4', 'ipv4', 'ip4'].includes(lower)) return 'IPv4';
  if (['6', 'v6', 'ipv6', 'ip6'].includes(lower)) return 'IPv6';
  return 'IP_NOT_USED';
}

function parseBool(v: string, parameter: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  return bad(parameter, `"${v}" is not true or false`);
}

function enumName(e: { values: Record<string, number> }, v: string, parameter: string): string {
  const name = v.toUpperCase();
  if (!(name in e.values)) bad(parameter, `unknown value "${v}" (one of ${Object.keys(e.values).join(', ')})`);
  return name;
}

function parseEventType(v: string, parameter: string): { type: number; match_sub_type?: boolean; sub_type?: number } {
  const colon = v.indexOf(':');
  const name = colon < 0 ? v : v.slice(0, colon);
  const sub = colon < 0 ? undefined : v.slice(colon + 1);
  const type = EVENT_TYPES[name] ?? (/^[0-9]+$/.test(name) ? Number(name) : bad(parameter, `unknown event type "${name}" (${Object.keys(EVENT_TYPES).join(', ')} or a number)`));
  if (sub === undefined) return { type };
  let subType: number | undefined;
  if (type === EVENT_TYPES.trace && (TRACE_POINT_NAMES as readonly string[]).includes(sub)) subType = (TRACE_POINT_NAMES as readonly string[]).indexOf(sub);
  else if (type === EVENT_TYPES.agent && sub in AGENT_SUBTYPES) subType = AGENT_SUBTYPES[sub];
  else if (/^[0-9]+$/.test(sub)) subType = Number(sub);
  else bad(parameter, `unknown sub-type "${sub}" for ${name}`);
  return { type, match_sub_type: true, sub_type: subType };
}

function parseIpTraceId(v: string, parameter: string): string {
  if (!/^[0-9]{1,20}$/.test(v) || BigInt(v) > 0xffffffffffffffffn) bad(parameter, `"${v}" is not an unsigned 64-bit number`);
  if (BigInt(v) === 0n) bad(parameter, 'must be greater than 0');
  return v;
}

/** A flag: FlowFilter field(s) it fills ([source, destination] for direction-less flags) and its value. */
interface FlagSpec {
  fields: string | [string, string];
  value?: (v: string, parameter: string) => unknown;
}

const FLAGS: Record<string, FlagSpec> = {
  uuid: { fields: 'uuid' },
  fqdn: { fields: ['source_fqdn', 'destination_fqdn'] },
  from_fqdn: { fields: 'source_fqdn' },
  to_fqdn: { fields: 'destination_fqdn' },
  pod: { fields: ['source_pod', 'destination_pod'] },
  from_pod: { fields: 'source_pod' },
  to_pod: { fields: 'destination_pod' },
  ip: { fields: ['source_ip', 'destination_ip'] },
  from_ip: { fields: 'source_ip' },
  to_ip: { fields: 'destination_ip' },
  snat_ip: { fields: 'source_ip_xlated' },
  ip_version: { fields: 'ip_version', value: parseIpVersion },
  label: { fields: ['source_label', 'destination_label'] },
  from_label: { fields: 'source_label' },
  to_label: { fields: 'destination_label' },
  service: { fields: ['source_service', 'destination_service'] },
  from_service: { fields: 'source_service' },
  to_service: { fields: 'destination_service' },
  port: { fields: ['source_port', 'destination_port'] },
  from_port: { fields: 'source_port' },
  to_port: { fields: 'destination_port' },
  trace_id: { fields: 'trace_id' },
  ip_trace_id: { fields: 'ip_trace_id', value: parseIpTraceId },
  verdict: { fields: 'verdict', value: (v, p) => enumName(Enums.Verdict, v, p) },
  drop_reason_desc: { fields: 'drop_reason_desc', value: (v, p) => enumName(Enums.DropReason, v, p) },
  http_status: { fields: 'http_status_code' },
  http_method: { fields: 'http_method' },
  http_path: { fields: 'http_path' },
  http_url: { fields: 'http_url' },
  http_header: { fields: 'http_header', value: parseHeader },
  type: { fields: 'event_type', value: parseEventType },
  protocol: { fields: 'protocol' },
  workload: { fields: ['source_workload', 'destination_workload'], value: parseWorkload },
  from_workload: { fields: 'source_workload', value: parseWorkload },
  to_workload: { fields: 'destination_workload', value: parseWorkload },
  identity: { fields: ['source_identity', 'destination_identity'], value: parseIdentity },
  from_identity: { fields: 'source_identity', value: parseIdentity },
  to_identity: { fields: 'destination_identity', value: parseIdentity },
  node_name: { fields: 'node_name' },
  node_label: { fields: 'node_labels' },
  cluster: { fields: ['source_cluster_name', 'destination_cluster_name'] },
  from_cluster: { fields: 'source_cluster_name' },
  to_cluster: { fields: 'destination_cluster_name' },
  tcp_flags: { fields: 'tcp_flags', value: parseTcpFlags },
  traffic_direction: {
    fields: 'traffic_direction',
    value: (v, p) => (['ingress', 'egress'].includes(v.toLowerCase()) ? v.toUpperCase() : bad(p, `"${v}" is not ingress or egress`)),
  },
  cel_expression: { fields: 'cel_expression' },
  interface: { fields: 'interface', value: (v) => ({ name: v }) },
  encrypted: { fields: 'encrypted', value: parseBool },
  // flowkeeper's own, beside the CLI's flags:
  dns_query: { fields: 'dns_query' },
  reply: { fields: 'reply', value: parseBool },
};

/** Namespace flags: which modifier they feed, and whether they name a namespace or mean "any". */
const NAMESPACE_FLAGS: Record<string, { modifier: 'ns' | 'srcNs' | 'dstNs'; any: boolean }> = {
  namespace: { modifier: 'ns', any: false },
  from_namespace: { modifier: 'srcNs', any: false },
  to_namespace: { modifier: 'dstNs', any: false },
  all_namespaces: { modifier: 'ns', any: true },
  from_all_namespaces: { modifier: 'srcNs', any: true },
  to_all_namespaces: { modifier: 'dstNs', any: true },
};

/** Flags the hubble CLI refuses to combine (its conflict table, with REST names). */
const CONFLICTS: string[][] = [
  ['from_fqdn', 'from_ip', 'ip', 'fqdn', 'from_namespace', 'namespace', 'from_all_namespaces', 'all_namespaces'],
  ['from_fqdn', 'from_ip', 'ip', 'fqdn', 'from_pod', 'pod'],
  ['to_fqdn', 'to_ip', 'ip', 'fqdn', 'to_namespace', 'namespace', 'to_all_namespaces', 'all_namespaces'],
  ['to_fqdn', 'to_ip', 'ip', 'fqdn', 'to_pod', 'pod'],
  ['to_pod', 'namespace', 'all_namespaces'],
  ['from_pod', 'namespace', 'all_namespaces'],
  ['to_service', 'namespace', 'all_namespaces'],
  ['from_service', 'namespace', 'all_namespaces'],
  ['label', 'from_label'],
  ['label', 'to_label'],
  ['service', 'from_service'],
  ['service', 'to_service'],
  ['port', 'to_port'],
  ['port', 'from_port'],
  ['identity', 'to_identity'],
  ['identity', 'from_identity'],
  ['workload', 'to_workload'],
  ['workload', 'from_workload'],
];

export const FILTER_PARAMETERS = [...Object.keys(FLAGS), ...Object.keys(NAMESPACE_FLAGS)];

/** One side of the query (whitelist or blacklist) being built, as the CLI's filterTracker. */
class Tracker {
  left: Filter | null = null;
  right: Filter | null = null;
  readonly ns: string[] = [];
  readonly srcNs: string[] = [];
  readonly dstNs: string[] = [];
  readonly changed: string[] = [];

  add(into: Side, field: string, value: unknown): void {
    const put = (f: Filter): void => {
      const list = (f[field] ??= []) as unknown[];
      list.push(value);
    };
    if (into !== 'right') put((this.left ??= {}));
    if (into !== 'left') put((this.right ??= {}));
  }

  filters(): Filter[] {
    if (!this.left && !this.right && !this.ns.length && !this.srcNs.length && !this.dstNs.length) return [];
    const left = (this.left ??= {});
    const right = (this.right ??= {});
    if (this.dstNs.length) for (const f of [left, right]) qualify(f, 'destination', this.dstNs);
    if (this.srcNs.length) for (const f of [left, right]) qualify(f, 'source', this.srcNs);
    if (this.ns.length) {
      qualify(left, 'source', this.ns);
      qualify(right, 'destination', this.ns);
    }
    return JSON.stringify(left) === JSON.stringify(right) ? [left] : [left, right];
  }
}

function namespaceOf(name: string): string {
  const parts = name.split('/');
  return parts.length > 1 ? parts[0] : '';
}

/** The CLI's namespace modifier: qualifies pods/services of one side, or selects the namespace when there are none. */
function qualify(f: Filter, side: 'source' | 'destination', namespaces: string[]): void {
  const podField = `${side}_pod`;
  const serviceField = `${side}_service`;
  const pods = (f[podField] as string[] | undefined) ?? [];
  const services = (f[serviceField] as string[] | undefined) ?? [];
  if (pods.length === 0 && services.length === 0) f[podField] = [''];
  const withNamespaces = (names: string[]): string[] =>
    names.flatMap((n) => (n.includes('/') ? [n] : namespaces.map((ns) => `${ns}/${n}`)));
  if (f[podField]) f[podField] = withNamespaces(f[podField] as string[]);
  if (f[serviceField]) f[serviceField] = withNamespaces(f[serviceField] as string[]);
}

function checkConflicts(t: Tracker, prefix: string): void {
  for (const group of CONFLICTS) {
    const given = group.filter((flag) => t.changed.includes(flag));
    if (given.length > 1) bad(`${prefix}${given[1]}`, `${prefix}${given[0]} and ${prefix}${given[1]} cannot be combined (as in hubble observe)`);
  }
  const nsConflict = (namespaces: string[], names: string[], parameter: string): void => {
    for (const ns of namespaces) {
      for (const name of names) {
        const own = namespaceOf(name);
        if (own !== '' && own !== ns) bad(parameter, `namespace conflict: "${ns}" does not contain "${name}"`);
      }
    }
  };
  for (const f of [t.left, t.right]) {
    if (!f) continue;
    const list = (field: string): string[] => (f[field] as string[] | undefined) ?? [];
    nsConflict(t.ns, [...list('source_pod'), ...list('source_service'), ...list('destination_pod'), ...list('destination_service')], `${prefix}namespace`);
    nsConflict(t.srcNs, [...list('source_pod'), ...list('source_service')], `${prefix}from_namespace`);
    nsConflict(t.dstNs, [...list('destination_pod'), ...list('destination_service')], `${prefix}to_namespace`);
    for (const side of ['source', 'destination']) {
      for (const pod of list(`${side}_pod`)) {
        const podNs = namespaceOf(pod);
        if (podNs === '') continue;
        const other = list(`${side}_service`).find((svc) => namespaceOf(svc) !== podNs);
        if (other !== undefined) bad(`${prefix}service`, `namespace of service "${other}" conflicts with pod "${pod}"`);
      }
    }
  }
}

function build(params: Record<string, string[]>, negated: boolean): Filter[] {
  const prefix = negated ? 'not_' : '';
  const t = new Tracker();
  for (const [rawName, values] of Object.entries(params)) {
    if (rawName.startsWith('not_') !== negated) continue;
    const name = negated ? rawName.slice(4) : rawName;
    const spec = FLAGS[name];
    const nsFlag = NAMESPACE_FLAGS[name];
    if (!spec && !nsFlag) continue;
    if (!t.changed.includes(name)) t.changed.push(name);
    for (const v of values) {
      if (v === '') bad(rawName, 'empty value');
      if (nsFlag) {
        if (nsFlag.any && !parseBool(v, rawName)) continue;
        t[nsFlag.modifier].push(nsFlag.any ? '' : v);
        continue;
      }
      const value = spec.value ? spec.value(v, rawName) : v;
      if (Array.isArray(spec.fields)) {
        t.add('left', spec.fields[0], value);
        t.add('right', spec.fields[1], value);
      } else {
        t.add('both', spec.fields, value);
      }
    }
  }
  checkConflicts(t, prefix);
  return t.filters().map((f) => {
    // cel_expression lives under FlowFilter.experimental.
    if (!f.cel_expression) return f;
    const { cel_expression: cel, ...rest } = f;
    return { ...rest, experimental: { cel_expression: cel } };
  });
}

/** The query parameter (as given, `not_` included) that produced FlowFilter `field`, for error messages. */
export function shorthandFor(field: string, params: Record<string, string[]>): string | undefined {
  return Object.keys(params).find((raw) => {
    const name = raw.startsWith('not_') ? raw.slice(4) : raw;
    const fields = FLAGS[name]?.fields;
    if (fields === undefined) return NAMESPACE_FLAGS[name] !== undefined && field.endsWith('_pod');
    return Array.isArray(fields) ? fields.includes(field) : fields === field || (fields === 'cel_expression' && field === 'experimental');
  });
}

/**
 * Builds {whitelist, blacklist} from query parameters (each a list of values).
 * Parameters not about filtering are ignored here; unknown ones are the caller's job.
 */
export function filtersFromQuery(params: Record<string, string[]>): { whitelist: Filter[]; blacklist: Filter[] } {
  return { whitelist: build(params, false), blacklist: build(params, true) };
}

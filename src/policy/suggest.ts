import type { FlowClasses } from '../store/flow-classes.js';
import type { Connection, EndpointView } from './model.js';
import { isIcmp } from './model.js';
import { connectionOf, dnsAnswers, observedOutcome } from './connection.js';
import { CLUSTER_ENTITIES, ENTITIES, NAMESPACE_LABEL, isPod, isWorld } from './peers.js';
import { selectorFor, workloadLabels } from './workload-selector.js';
import type { MatchLabels, WorkloadSelector } from './workload-selector.js';

/**
 * Least-privilege CiliumNetworkPolicies from the traffic seen: for each
 * workload of a namespace, the peers, ports and L7 requests that were
 * allowed in the range, and nothing else. Each suggestion is then proved by
 * replaying the same flows against it (see run.ts).
 */

/** Beyond these, a rule widens (and says so): distinct HTTP requests or DNS names per port, world addresses per workload and direction. */
export const MAX_HTTP_RULES = 32;
export const MAX_DNS_NAMES = 32;
export const MAX_WORLD_PEERS = 64;

type Direction = 'ingress' | 'egress';

type Peer =
  | { kind: 'endpoints'; namespace: string; workload: string }
  | { kind: 'entity'; entity: string }
  | { kind: 'fqdn'; name: string }
  | { kind: 'cidr'; ip: string };

interface PortUse {
  protocol: Connection['protocol'];
  /** the port, or the ICMP type */
  port: number;
  /** HTTP requests seen, by "METHOD path" */
  http: Map<string, HttpRequestSeen>;
  dns: Set<string>;
  /** any name may be looked up (toFQDNs needs the lookups proxied; no query was recorded) */
  anyDns: boolean;
}

interface HttpRequestSeen {
  method: string;
  /** without its query string */
  path: string;
  /** a query string was seen with it */
  query: boolean;
}

/** Notes one request on a port (a query string seen once stays seen). */
function addRequest(use: PortUse, r: HttpRequestSeen): void {
  const key = `${r.method} ${r.path}`;
  const seen = use.http.get(key);
  if (seen) seen.query ||= r.query;
  else use.http.set(key, { ...r });
}

interface PeerUse {
  peer: Peer;
  ports: Map<string, PortUse>;
}

interface WorkloadUse {
  workload: string;
  /** allowed flows its rules were drawn from */
  flows: number;
  ingress: Map<string, PeerUse>;
  egress: Map<string, PeerUse>;
}

export interface SuggestedPolicy {
  name: string;
  workload: string;
  selector: MatchLabels;
  ingressRules: number;
  egressRules: number;
  /** flows of the range this policy's rules were drawn from */
  flows: number;
}

export interface SuggestionDraft {
  policies: SuggestedPolicy[];
  /** One CiliumNetworkPolicy document per workload, in the order of `policies` */
  documents: { comment: string; policy: Record<string, unknown> }[];
  warnings: string[];
}

const DNS_NAME = /^[-0-9_a-z]+(?:\.[-0-9_a-z]+)*\.?$/;

function peerOf(ep: EndpointView, direction: Direction): Peer | null {
  if (isPod(ep) && ep.workload) return { kind: 'endpoints', namespace: ep.namespace, workload: ep.workload };
  if (isWorld(ep)) {
    // toFQDNs only exists for egress; a name only helps if it is a valid DNS name.
    const name = direction === 'egress' ? ep.names?.map((n) => n.toLowerCase()).find((n) => DNS_NAME.test(n)) : undefined;
    if (name) return { kind: 'fqdn', name: name.replace(/\.$/, '') };
    return ep.ip ? { kind: 'cidr', ip: ep.ip } : null;
  }
  const entity = CLUSTER_ENTITIES.find((e) => ENTITIES[e](ep));
  return entity ? { kind: 'entity', entity } : null;
}

function peerKey(p: Peer): string {
  switch (p.kind) {
    case 'endpoints': return `endpoints ${p.namespace}/${p.workload}`;
    case 'entity': return `entity ${p.entity}`;
    case 'fqdn': return `fqdn ${p.name}`;
    case 'cidr': return `cidr ${p.ip}`;
  }
}

function describeEndpoint(ep: EndpointView): string {
  return ep.namespace ? `${ep.namespace}/${ep.workload}` : ep.labels.find((l) => l.startsWith('reserved:')) ?? (ep.ip || `identity ${ep.identity}`);
}

class Collector {
  readonly workloads = new Map<string, WorkloadUse>();
  /** Observed identities' workload labels, per "namespace/workload" */
  readonly labels = new Map<string, Map<string, MatchLabels>>();
  readonly unnamed = new Map<string, number>();

  constructor(readonly namespace: string) {}

  seeEndpoint(ep: EndpointView): void {
    if (!isPod(ep) || !ep.workload) return;
    const key = `${ep.namespace}/${ep.workload}`;
    const sets = this.labels.get(key) ?? new Map<string, MatchLabels>();
    const labels = workloadLabels(ep.labels);
    sets.set(JSON.stringify(labels), labels);
    this.labels.set(key, sets);
  }

  use(c: Connection, flows: number): void {
    if (isPod(c.src) && c.src.namespace === this.namespace) this.add(c.src, 'egress', c.dst, c, flows);
    if (isPod(c.dst) && c.dst.namespace === this.namespace) this.add(c.dst, 'ingress', c.src, c, flows);
  }

  private add(self: EndpointView, direction: Direction, other: EndpointView, c: Connection, flows: number): void {
    if (!self.workload) return;
    const w = this.workloads.get(self.workload) ?? { workload: self.workload, flows: 0, ingress: new Map(), egress: new Map() };
    this.workloads.set(self.workload, w);
    w.flows += flows;
    const peer = peerOf(other, direction);
    if (peer === null) {
      const what = `${direction} of ${this.namespace}/${self.workload} with ${describeEndpoint(other)}`;
      this.unnamed.set(what, (this.unnamed.get(what) ?? 0) + flows);
      return;
    }
    const side = w[direction];
    const pu = side.get(peerKey(peer)) ?? { peer, ports: new Map<string, PortUse>() };
    side.set(peerKey(peer), pu);
    const port = isIcmp(c.protocol) ? c.icmpType ?? 0 : c.port;
    const portKey = `${c.protocol}/${port}`;
    const use = pu.ports.get(portKey) ?? { protocol: c.protocol, port, http: new Map<string, HttpRequestSeen>(), dns: new Set<string>(), anyDns: false };
    pu.ports.set(portKey, use);
    // L7 rules where Cilium enforces them: HTTP at the server's ingress (or egress to the world), DNS at egress.
    if (c.http && (direction === 'ingress' || peer.kind === 'fqdn' || peer.kind === 'cidr')) {
      const [path, query] = c.http.path.split(/\?(.*)/s);
      addRequest(use, { method: c.http.method, path, query: query !== undefined });
    }
    if (c.dns && direction === 'egress') use.dns.add(c.dns.query.toLowerCase());
  }
}

/** The whole-value regular expression of one observed path (a query string seen with it is allowed to vary). */
function pathRegex(path: string, query: boolean): string {
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return query ? `${escaped}(\\?.*)?` : escaped;
}

interface Rendered {
  rules: Record<string, unknown>[];
  warnings: string[];
}

function portRules(pu: PeerUse, where: string): { toPorts: Record<string, unknown>[]; icmps: Record<string, unknown>[]; warnings: string[] } {
  const warnings: string[] = [];
  const plain: Record<string, unknown>[] = [];
  const withL7: Record<string, unknown>[] = [];
  const icmps: Record<string, unknown>[] = [];
  const uses = [...pu.ports.values()].sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port);
  for (const u of uses) {
    if (isIcmp(u.protocol)) {
      icmps.push({ type: u.port, family: u.protocol === 'ICMPv4' ? 'IPv4' : 'IPv6' });
      continue;
    }
    const port = { port: String(u.port), protocol: u.protocol };
    if (u.http.size > 0) {
      const http = [...u.http].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, r]) => ({ method: r.method, path: pathRegex(r.path, r.query) }));
      if (http.length > MAX_HTTP_RULES) {
        warnings.push(`${where} port ${u.protocol}/${u.port}: ${http.length} distinct HTTP requests; the rule allows any path for the ${new Set(http.map((h) => h.method)).size} methods seen`);
        withL7.push({ ports: [port], rules: { http: [...new Set(http.map((h) => h.method))].map((method) => ({ method })) } });
      } else {
        withL7.push({ ports: [port], rules: { http } });
      }
    } else if (u.anyDns && u.dns.size === 0) {
      withL7.push({ ports: [port], rules: { dns: [{ matchPattern: '*' }] } });
    } else if (u.dns.size > 0) {
      const names = [...u.dns].sort();
      const exact = names.length <= MAX_DNS_NAMES && names.every((n) => DNS_NAME.test(n));
      if (!exact) warnings.push(`${where} port ${u.protocol}/${u.port}: ${names.length} DNS names${names.length <= MAX_DNS_NAMES ? ', some not plain names' : ''}; the rule lets any name be looked up`);
      withL7.push({ ports: [port], rules: { dns: exact ? names.map((n) => ({ matchName: n.replace(/\.$/, '') })) : [{ matchPattern: '*' }] } });
    } else {
      plain.push(port);
    }
  }
  const toPorts = [...(plain.length ? [{ ports: plain }] : []), ...withL7];
  return { toPorts, icmps: icmps.length ? [{ fields: icmps }] : [], warnings };
}

/** The rule field a peer goes in (names only arise for egress: peerOf never gives one for ingress). */
function peerField(direction: Direction, kind: Peer['kind']): string {
  const field = { endpoints: 'Endpoints', entity: 'Entities', fqdn: 'FQDNs', cidr: 'CIDR' }[kind];
  return `${direction === 'ingress' ? 'from' : 'to'}${field}`;
}

function peerValue(p: Peer, namespace: string, selectorOf: (key: string) => WorkloadSelector | null): unknown {
  switch (p.kind) {
    case 'endpoints': {
      const sel = selectorOf(`${p.namespace}/${p.workload}`);
      const labels = { ...(sel?.matchLabels ?? {}), ...(p.namespace !== namespace ? { [NAMESPACE_LABEL]: p.namespace } : {}) };
      return { matchLabels: labels };
    }
    case 'entity': return p.entity;
    case 'fqdn': return { matchName: p.name };
    case 'cidr': return `${p.ip}/${p.ip.includes(':') ? 128 : 32}`;
  }
}

/** The rules of one direction: peers with the same ports share a rule; ICMP gets rules of its own (Cilium refuses icmps beside toPorts). */
function renderSide(side: Map<string, PeerUse>, direction: Direction, namespace: string, workload: string, selectorOf: (key: string) => WorkloadSelector | null): Rendered {
  const warnings: string[] = [];
  const where = `${direction} of ${namespace}/${workload}`;
  let peers = [...side.values()].sort((a, b) => peerKey(a.peer).localeCompare(peerKey(b.peer)));
  const world = peers.filter((p) => p.peer.kind === 'cidr' || p.peer.kind === 'fqdn');
  if (world.length > MAX_WORLD_PEERS) {
    warnings.push(`${where}: ${world.length} addresses and names outside the cluster; the rule allows the world entity on the ports seen`);
    const merged: PeerUse = { peer: { kind: 'entity', entity: 'world' }, ports: new Map() };
    for (const p of world) {
      for (const [k, u] of p.ports) {
        const m = merged.ports.get(k) ?? { ...u, http: new Map<string, HttpRequestSeen>(), dns: new Set<string>() };
        for (const r of u.http.values()) addRequest(m, r);
        for (const name of u.dns) m.dns.add(name);
        merged.ports.set(k, m);
      }
    }
    peers = [...peers.filter((p) => !world.includes(p)), merged];
  }
  const grouped = new Map<string, { field: string; values: unknown[]; extra: Record<string, unknown> }>();
  for (const pu of peers) {
    if (pu.peer.kind === 'endpoints' && selectorOf(`${pu.peer.namespace}/${pu.peer.workload}`) === null) {
      warnings.push(`${where} with ${pu.peer.namespace}/${pu.peer.workload}: its pods share no label to select them by; not in the policy`);
      continue;
    }
    const ports = portRules(pu, `${where} with ${peerKey(pu.peer)}`);
    warnings.push(...ports.warnings);
    const field = peerField(direction, pu.peer.kind);
    const value = peerValue(pu.peer, namespace, selectorOf);
    const shapes: Record<string, unknown>[] = [...(ports.toPorts.length ? [{ toPorts: ports.toPorts }] : []), ...(ports.icmps.length ? [{ icmps: ports.icmps }] : [])];
    for (const extra of shapes) {
      const key = `${field} ${JSON.stringify(extra)}`;
      const g = grouped.get(key) ?? { field, values: [] as unknown[], extra };
      g.values.push(value);
      grouped.set(key, g);
    }
  }
  return { rules: [...grouped.values()].map((g) => ({ [g.field]: g.values, ...g.extra })), warnings };
}

/** Kubernetes object names: lowercase alphanumerics and '-', at most 253 characters. */
function policyName(workload: string): string {
  const base = workload.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'workload';
  return `${base.slice(0, 230)}-least-privilege`;
}

/** DNS lookups must pass Cilium's DNS proxy for toFQDNs to learn addresses: a plain port-53 egress rule gains `rules.dns`. */
function proxyDnsForFqdns(w: WorkloadUse, namespace: string): string[] {
  const usesNames = [...w.egress.values()].some((p) => p.peer.kind === 'fqdn');
  if (!usesNames) return [];
  let dns = false;
  for (const p of w.egress.values()) {
    for (const u of p.ports.values()) {
      if (u.port !== 53 || (u.protocol !== 'UDP' && u.protocol !== 'TCP') || p.peer.kind === 'fqdn' || p.peer.kind === 'cidr') continue;
      dns = true;
      u.anyDns = true;
    }
  }
  return dns ? [] : [`egress of ${namespace}/${w.workload}: toFQDNs rules need the pod's DNS lookups to pass Cilium's DNS proxy, and no DNS traffic of it was seen in the range: add an egress rule to your DNS servers with rules.dns`];
}

export function suggestPolicies(scan: FlowClasses, namespace: string, only: ReadonlySet<string> | null, range: { since: string; until: string }): SuggestionDraft {
  const names = dnsAnswers(scan.classes.map((c) => c.sample));
  const collector = new Collector(namespace);
  for (const cls of scan.classes) {
    const c = connectionOf(cls.sample, (ip) => names.get(ip) ?? null);
    collector.seeEndpoint(c.src);
    collector.seeEndpoint(c.dst);
    if (observedOutcome(cls.sample) === 'allowed' && c.protocol !== '') collector.use(c, cls.flows);
  }
  // Selectors are worked out once per workload, against the other workloads seen in its namespace.
  const selectors = new Map<string, WorkloadSelector | null>();
  const selectorOf = (key: string): WorkloadSelector | null => {
    if (!selectors.has(key)) {
      const ns = key.slice(0, key.indexOf('/'));
      const others = new Map([...collector.labels].filter(([k]) => k !== key && k.startsWith(`${ns}/`)).map(([k, sets]) => [k, [...sets.values()]]));
      selectors.set(key, selectorFor([...(collector.labels.get(key)?.values() ?? [])], others));
    }
    return selectors.get(key) ?? null;
  };
  const warnings: string[] = [];
  const draft: SuggestionDraft = { policies: [], documents: [], warnings };
  const workloads = [...collector.labels.keys()].filter((k) => k.startsWith(`${namespace}/`)).map((k) => k.slice(namespace.length + 1)).sort();
  for (const wanted of only ? [...only] : []) if (!workloads.includes(wanted)) warnings.push(`${namespace}/${wanted}: not seen in the flows of the range; no policy suggested`);
  for (const workload of workloads) {
    if (only && !only.has(workload)) continue;
    const sel = selectorOf(`${namespace}/${workload}`);
    if (sel === null) {
      warnings.push(`${namespace}/${workload}: its pods share no label to select them by; no policy suggested`);
      continue;
    }
    if (sel.alsoSelects.length) warnings.push(`${namespace}/${workload}: its labels (${Object.entries(sel.matchLabels).map(([k, v]) => `${k}=${v}`).join(', ')}) also select ${sel.alsoSelects.join(', ')}; the policies add up for those pods`);
    const w = collector.workloads.get(workload) ?? { workload, flows: 0, ingress: new Map(), egress: new Map() };
    warnings.push(...proxyDnsForFqdns(w, namespace));
    const ingress = renderSide(w.ingress, 'ingress', namespace, workload, selectorOf);
    const egress = renderSide(w.egress, 'egress', namespace, workload, selectorOf);
    warnings.push(...ingress.warnings, ...egress.warnings);
    const name = policyName(workload);
    const flows = w.flows;
    draft.policies.push({ name, workload, selector: sel.matchLabels, ingressRules: ingress.rules.length, egressRules: egress.rules.length, flows });
    const empty = (d: Direction): string => `no ${d} was allowed in the range: '- {}' selects the pods and allows nothing (default deny)`;
    draft.documents.push({
      comment: [
        ` Least privilege for ${namespace}/${workload}, from ${flows} allowed flows seen between ${range.since} and ${range.until}.`,
        ...(ingress.rules.length ? [] : [` ${empty('ingress')}`]),
        ...(egress.rules.length ? [] : [` ${empty('egress')}`]),
      ].join('\n'),
      policy: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name, namespace },
        spec: {
          endpointSelector: { matchLabels: sel.matchLabels },
          ingress: ingress.rules.length ? ingress.rules : [{}],
          egress: egress.rules.length ? egress.rules : [{}],
        },
      },
    });
  }
  for (const [what, flows] of collector.unnamed) warnings.push(`${what}: ${flows} allowed flows whose peer a policy cannot name; not in the policy`);
  return draft;
}

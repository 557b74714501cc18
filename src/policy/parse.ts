import { parseAllDocuments } from 'yaml';
import { FlowkeeperError, clip } from '../errors.js';
import type { LabelExpression, LabelSelector } from '../query/labels.js';
import { selectorFromExpressions } from '../query/labels.js';
import { compileDnsPattern, compileUserRegex } from '../query/patterns.js';
import type { Pattern } from '../query/patterns.js';
import type {
  Direction, HttpRule, IcmpSpec, L7Rules, PeerMatcher, PolicyKind, PolicyName, PolicyRule, PolicySet, PortRule, PortSpec,
} from './model.js';
import { emptyPolicySet, policyLabel, samePolicy } from './model.js';
import { ENTITIES, NAMESPACE_LABEL, undecidablePeer, cidrPeer, entityPeer, fqdnPeer, selectorPeer, servicePeer } from './peers.js';
import { parseAddrOrPrefix } from '../query/addresses.js';
import type { CidrSpec } from './peers.js';
import { ICMP_TYPES } from './icmp.js';

/**
 * Reads CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and Kubernetes
 * NetworkPolicy documents (multi-document YAML, or `kind: List` as kubectl
 * prints it) into a PolicySet. Every error names the document, the path in it
 * and the problem.
 */

export const MAX_POLICY_RULES = 10_000;
const MAX_DOCUMENTS = 2_000;

const NAMESPACE_LABELS_PREFIX = 'k8s:io.cilium.k8s.namespace.labels.';

type Json = Record<string, unknown>;

/** Where a value is: the document and the path in it; errors and warnings say so. */
class Place {
  constructor(readonly doc: string, readonly path: string) {}

  at(key: string | number): Place {
    return new Place(this.doc, typeof key === 'number' ? `${this.path}[${key}]` : this.path ? `${this.path}.${key}` : key);
  }

  fail(problem: string): never {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_POLICY', `${this.doc}: ${this.path || '(document)'}: ${problem}`, 'policy');
  }

  /** Runs a compile step whose own error (a bad regex, label or name) is reported at this place. */
  compile<T>(step: () => T): T {
    try {
      return step();
    } catch (err) {
      if (err instanceof FlowkeeperError) this.fail(err.message.replace(/^[^:]*: /, ''));
      throw err;
    }
  }

  toString(): string {
    return `${this.doc}: ${this.path}`;
  }
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, at: Place): Json {
  if (!isObject(v)) at.fail(`expected a mapping, found ${describe(v)}`);
  return v;
}

function list(v: unknown, at: Place): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) at.fail(`expected a list, found ${describe(v)}`);
  return v;
}

function str(v: unknown, at: Place): string {
  if (typeof v !== 'string') at.fail(`expected a string, found ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${clip(JSON.stringify(v))}`;
}

/** Rejects keys the model does not know, so a typo is not silently a wider rule. */
function onlyKeys(o: Json, allowed: string[], at: Place): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) at.at(k).fail(`unknown field (expected one of: ${allowed.join(', ')})`);
  }
}

/** A LabelSelector mapping (matchLabels, matchExpressions) as expressions; `keyOf` rewrites keys (namespace labels). */
function expressions(v: unknown, at: Place, keyOf: (k: string) => string = (k) => k): LabelExpression[] {
  const o = obj(v ?? {}, at);
  onlyKeys(o, ['matchLabels', 'matchExpressions'], at);
  const out: LabelExpression[] = [];
  for (const [k, val] of Object.entries(obj(o.matchLabels ?? {}, at.at('matchLabels')))) {
    out.push({ key: keyOf(k), operator: 'In', values: [String(val)] });
  }
  list(o.matchExpressions, at.at('matchExpressions')).forEach((e, i) => {
    const p = at.at('matchExpressions').at(i);
    const x = obj(e, p);
    const operator = str(x.operator, p.at('operator'));
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(operator)) p.at('operator').fail(`"${clip(operator)}" is not In, NotIn, Exists or DoesNotExist`);
    const values = list(x.values, p.at('values')).map((val, j) => str(val, p.at('values').at(j)));
    if ((operator === 'In' || operator === 'NotIn') && values.length === 0) p.at('values').fail(`${operator} needs at least one value`);
    out.push({ key: keyOf(str(x.key, p.at('key'))), operator: operator as LabelExpression['operator'], values });
  });
  return out;
}

/** Pods of one namespace, or (null) of any namespace: what a policy's selectors are scoped to. */
function inNamespace(namespace: string | null): LabelExpression {
  return namespace === null ? { key: NAMESPACE_LABEL, operator: 'Exists', values: [] } : { key: NAMESPACE_LABEL, operator: 'In', values: [namespace] };
}

function compileSelector(exprs: LabelExpression[], at: Place): LabelSelector {
  return at.compile(() => selectorFromExpressions(exprs, at.path));
}

function bareKey(key: string): string {
  const colon = key.indexOf(':');
  return colon < 0 ? key : key.slice(colon + 1);
}

/** Cilium scopes a CNP's peer selector to the policy's namespace unless it names namespaces itself or a reserved identity. */
function scopedToNamespace(exprs: LabelExpression[], namespace: string | null): LabelExpression[] {
  // A clusterwide policy's selectors select pods of every namespace (never the reserved identities).
  if (namespace === null) return [...exprs, inNamespace(null)];
  const namesNamespaces = exprs.some((e) => bareKey(e.key) === bareKey(NAMESPACE_LABEL) || bareKey(e.key).startsWith(bareKey(NAMESPACE_LABELS_PREFIX)));
  if (namesNamespaces || exprs.some((e) => e.key.startsWith('reserved:'))) return exprs;
  return [...exprs, inNamespace(namespace)];
}

function readCidrs(v: unknown, at: Place): CidrSpec[] {
  return list(v, at).map((c, i) => {
    const p = at.at(i);
    if (typeof c === 'string') return { prefix: prefixAt(c, p), except: [] };
    const o = obj(c, p);
    if (o.cidrGroupRef !== undefined || o.cidrGroupSelector !== undefined) p.fail('cidrGroupRef/cidrGroupSelector name CiliumCIDRGroups, which flowkeeper cannot see; write the CIDRs out');
    return {
      prefix: prefixAt(str(o.cidr, p.at('cidr')), p.at('cidr')),
      except: list(o.except, p.at('except')).map((x, j) => prefixAt(str(x, p.at('except').at(j)), p.at('except').at(j))),
    };
  });
}

function prefixAt(text: string, at: Place): CidrSpec['prefix'] {
  return parseAddrOrPrefix(text) ?? at.fail(`"${clip(text)}" is not a CIDR or IP address`);
}

function readPort(v: unknown, at: Place, defaultProtocol: PortSpec['protocol']): PortSpec {
  const o = obj(v, at);
  const rawPort = o.port ?? 0;
  let port: number | string;
  if (typeof rawPort === 'number' || (typeof rawPort === 'string' && /^[0-9]+$/.test(rawPort))) {
    port = Number(rawPort);
    if (!Number.isInteger(port) || port < 0 || port > 65535) at.at('port').fail(`${clip(String(rawPort))} is not a port (0–65535)`);
  } else {
    port = str(rawPort, at.at('port'));
  }
  const endPort = o.endPort === undefined ? 0 : Number(o.endPort);
  if (!Number.isInteger(endPort) || endPort < 0 || endPort > 65535) at.at('endPort').fail('not a port (0–65535)');
  const protocol = o.protocol === undefined ? defaultProtocol : str(o.protocol, at.at('protocol')).toUpperCase();
  if (!['TCP', 'UDP', 'SCTP', 'ANY'].includes(protocol)) at.at('protocol').fail(`"${clip(protocol)}" is not TCP, UDP, SCTP or ANY`);
  return { port, endPort, protocol: protocol as PortSpec['protocol'] };
}

function readIcmps(v: unknown, at: Place): IcmpSpec[] {
  const out: IcmpSpec[] = [];
  list(v, at).forEach((entry, i) => {
    const fields = at.at(i).at('fields');
    list(obj(entry, at.at(i)).fields, fields).forEach((f, j) => {
      const p = fields.at(j);
      const o = obj(f, p);
      const familyText = o.family === undefined ? 'IPv4' : str(o.family, p.at('family'));
      const family = familyText === 'IPv4' || familyText === 'IPv6' ? familyText : p.at('family').fail('must be IPv4 or IPv6');
      const type = typeof o.type === 'number' ? o.type : ICMP_TYPES[family][str(o.type, p.at('type'))];
      if (type === undefined || !Number.isInteger(type) || type < 0 || type > 255) p.at('type').fail(`${clip(String(o.type))} is not an ICMP type of ${family}`);
      out.push({ family, type });
    });
  });
  return out;
}

function regexAt(v: unknown, at: Place): Pattern | null {
  if (v === undefined || v === '') return null;
  const text = str(v, at);
  // Cilium's HTTP fields are regular expressions the proxy matches against the whole value.
  return at.compile(() => compileUserRegex(`^(?:${text})$`, at.path));
}

function readHttp(v: unknown, at: Place): HttpRule[] {
  return list(v, at).map((r, i) => {
    const p = at.at(i);
    const o = obj(r, p);
    onlyKeys(o, ['method', 'path', 'host', 'headers', 'headerMatches'], p);
    const headers = list(o.headers, p.at('headers')).map((h, j) => {
      const text = str(h, p.at('headers').at(j));
      const colon = text.indexOf(':');
      return colon < 0 ? { name: text.trim().toLowerCase(), value: null } : { name: text.slice(0, colon).trim().toLowerCase(), value: text.slice(colon + 1).trim() };
    });
    list(o.headerMatches, p.at('headerMatches')).forEach((h, j) => {
      const m = obj(h, p.at('headerMatches').at(j));
      if (m.secret !== undefined || m.mismatch !== undefined) p.at('headerMatches').at(j).fail('secret and mismatch header matches are not supported');
      headers.push({ name: str(m.name, p.at('headerMatches').at(j).at('name')).toLowerCase(), value: m.value === undefined ? null : str(m.value, p.at('headerMatches').at(j).at('value')) });
    });
    return { method: regexAt(o.method, p.at('method')), path: regexAt(o.path, p.at('path')), host: regexAt(o.host, p.at('host')), headers };
  });
}

function readDns(v: unknown, at: Place): Pattern[] {
  return list(v, at).map((r, i) => {
    const p = at.at(i);
    const o = obj(r, p);
    onlyKeys(o, ['matchName', 'matchPattern'], p);
    if (o.matchName !== undefined) return p.compile(() => compileDnsPattern(str(o.matchName, p.at('matchName')), false, p.path));
    return p.compile(() => compileDnsPattern(str(o.matchPattern, p.at('matchPattern')), true, p.path));
  });
}

function readL7(v: unknown, at: Place, deny: boolean): L7Rules | null {
  if (v === undefined || v === null) return null;
  if (deny) at.fail('deny rules cannot carry L7 rules (Cilium refuses them)');
  const o = obj(v, at);
  onlyKeys(o, ['http', 'dns', 'kafka', 'l7proto', 'l7'], at);
  const unsupported = o.kafka !== undefined ? 'kafka' : o.l7proto !== undefined ? `l7proto ${String(o.l7proto)}` : null;
  return {
    http: o.http === undefined ? null : readHttp(o.http, at.at('http')),
    dns: o.dns === undefined ? null : readDns(o.dns, at.at('dns')),
    unsupported,
  };
}

function readToPorts(v: unknown, at: Place, deny: boolean, warnings: string[]): PortRule[] {
  return list(v, at).map((tp, i) => {
    const p = at.at(i);
    const o = obj(tp, p);
    onlyKeys(o, ['ports', 'rules', 'terminatingTLS', 'originatingTLS', 'serverNames', 'listener'], p);
    if (o.serverNames !== undefined) warnings.push(`${p.at('serverNames')}: TLS server names are not in flows; the rule is judged on its ports`);
    const l7 = readL7(o.rules, p.at('rules'), deny);
    if (l7?.unsupported) warnings.push(`${p.at('rules')}: ${l7.unsupported} rules are not evaluated; requests they decide are reported undecidable`);
    return { ports: list(o.ports, p.at('ports')).map((x, j) => readPort(x, p.at('ports').at(j), 'ANY')), icmps: [], l7 };
  });
}

interface Scope {
  policy: PolicyName;
  /** The policy's namespace for scoping peers; null for clusterwide ones */
  namespace: string | null;
  warnings: string[];
}

const PEER_FIELDS: Record<Direction, string[]> = {
  ingress: ['fromEndpoints', 'fromRequires', 'fromEntities', 'fromCIDR', 'fromCIDRSet', 'fromNodes', 'fromGroups'],
  egress: ['toEndpoints', 'toRequires', 'toEntities', 'toCIDR', 'toCIDRSet', 'toServices', 'toFQDNs', 'toNodes', 'toGroups'],
};

function readPeers(o: Json, direction: Direction, at: Place, scope: Scope): PeerMatcher[] | null {
  const fields = PEER_FIELDS[direction].filter((f) => o[f] !== undefined);
  if (fields.length === 0) return null;
  const peers: PeerMatcher[] = [];
  for (const f of fields) {
    const p = at.at(f);
    const base = f.replace(/^(from|to)/, '');
    if (base === 'Endpoints') {
      list(o[f], p).forEach((s, i) => peers.push(selectorPeer(compileSelector(scopedToNamespace(expressions(s, p.at(i)), scope.namespace), p.at(i)))));
    } else if (base === 'Entities') {
      const names = list(o[f], p).map((e, i) => str(e, p.at(i)));
      names.forEach((n, i) => ENTITIES[n] ?? p.at(i).fail(`"${clip(n)}" is not an entity (${Object.keys(ENTITIES).join(', ')})`));
      peers.push(entityPeer(names));
    } else if (base === 'CIDR' || base === 'CIDRSet') {
      peers.push(cidrPeer(readCidrs(o[f], p)));
    } else if (base === 'FQDNs') {
      peers.push(fqdnPeer(readDns(o[f], p)));
    } else if (base === 'Services') {
      const names: { name: string; namespace: string }[] = [];
      list(o[f], p).forEach((s, i) => {
        const svc = obj(s, p.at(i));
        if (svc.k8sService !== undefined) {
          const k = obj(svc.k8sService, p.at(i).at('k8sService'));
          names.push({ name: str(k.serviceName, p.at(i).at('k8sService').at('serviceName')), namespace: k.namespace === undefined ? (scope.namespace ?? 'default') : str(k.namespace, p.at(i).at('k8sService').at('namespace')) });
        } else {
          scope.warnings.push(`${p.at(i)}: services selected by labels cannot be resolved from flows; what they decide is reported undecidable`);
          peers.push(undecidablePeer('a service selector'));
        }
      });
      if (names.length) peers.push(servicePeer(names));
    } else {
      scope.warnings.push(`${p}: ${f} is not evaluated (flows do not show what it selects); what it decides is reported undecidable`);
      peers.push(undecidablePeer(f));
    }
  }
  return peers;
}

function readCiliumRules(v: unknown, direction: Direction, deny: boolean, at: Place, scope: Scope, subject: LabelSelector): PolicyRule[] {
  return list(v, at).map((r, i) => {
    const p = at.at(i);
    const o = obj(r ?? {}, p);
    onlyKeys(o, [...PEER_FIELDS[direction], 'toPorts', 'icmps', 'authentication'], p);
    if (o.authentication !== undefined) scope.warnings.push(`${p.at('authentication')}: mutual authentication is not evaluated`);
    const ports = readToPorts(o.toPorts, p.at('toPorts'), deny, scope.warnings);
    const icmps = readIcmps(o.icmps, p.at('icmps'));
    if (icmps.length) ports.push({ ports: [], icmps, l7: null });
    let peers = readPeers(o, direction, p, scope);
    // A rule with neither peers nor ports allows (or denies) nothing: `ingress: [{}]` is how Cilium writes default deny.
    if (peers === null && ports.length === 0) peers = [];
    return { policy: scope.policy, direction, deny, path: p.path, subject, peers, ports };
  });
}

function readCiliumSpec(spec: Json, at: Place, scope: Scope, out: PolicySet): void {
  onlyKeys(spec, ['endpointSelector', 'nodeSelector', 'ingress', 'ingressDeny', 'egress', 'egressDeny', 'labels', 'description', 'enableDefaultDeny'], at);
  let subject: LabelSelector;
  if (spec.nodeSelector !== undefined) {
    if (scope.namespace !== null) at.at('nodeSelector').fail('only a CiliumClusterwideNetworkPolicy may select nodes');
    const sel = compileSelector(expressions(spec.nodeSelector, at.at('nodeSelector')), at.at('nodeSelector'));
    subject = (labels) => labels.includes('reserved:host') && sel(labels);
  } else {
    if (spec.endpointSelector === undefined) at.fail('needs an endpointSelector or a nodeSelector');
    // An endpointSelector selects pods only: of the policy's namespace, or of any for a clusterwide policy.
    subject = compileSelector([...expressions(spec.endpointSelector, at.at('endpointSelector')), inNamespace(scope.namespace)], at.at('endpointSelector'));
  }
  const defaultDeny = obj(spec.enableDefaultDeny ?? {}, at.at('enableDefaultDeny'));
  for (const direction of ['ingress', 'egress'] as const) {
    const allow = readCiliumRules(spec[direction], direction, false, at.at(direction), scope, subject);
    const deny = readCiliumRules(spec[`${direction}Deny`], direction, true, at.at(`${direction}Deny`), scope, subject);
    out.rules.push(...allow, ...deny);
    const sectionPresent = spec[direction] !== undefined || spec[`${direction}Deny`] !== undefined;
    if (sectionPresent && defaultDeny[direction] !== false) out.enforcements.push({ policy: scope.policy, direction, subject });
  }
}

function readNetworkPolicy(spec: Json, at: Place, scope: Scope, out: PolicySet): void {
  onlyKeys(spec, ['podSelector', 'policyTypes', 'ingress', 'egress'], at);
  const namespace = scope.namespace!;
  const subject = compileSelector([...expressions(spec.podSelector, at.at('podSelector')), inNamespace(namespace)], at.at('podSelector'));
  const types = spec.policyTypes === undefined
    ? ['Ingress', ...(spec.egress !== undefined ? ['Egress'] : [])]
    : list(spec.policyTypes, at.at('policyTypes')).map((t, i) => (t === 'Ingress' || t === 'Egress' ? t : at.at('policyTypes').at(i).fail('must be Ingress or Egress')));
  for (const type of types) {
    const direction = type === 'Ingress' ? 'ingress' : 'egress';
    out.enforcements.push({ policy: scope.policy, direction, subject });
    const peersKey = direction === 'ingress' ? 'from' : 'to';
    list(spec[direction], at.at(direction)).forEach((r, i) => {
      const p = at.at(direction).at(i);
      const o = obj(r ?? {}, p);
      onlyKeys(o, [peersKey, 'ports'], p);
      const peerList = list(o[peersKey], p.at(peersKey));
      const peers = peerList.length === 0 ? null : peerList.map((x, j) => networkPolicyPeer(x, p.at(peersKey).at(j), namespace));
      const ports = list(o.ports, p.at('ports')).map((x, j) => ({ ports: [readPort(x, p.at('ports').at(j), 'TCP')], icmps: [], l7: null }));
      out.rules.push({ policy: scope.policy, direction, deny: false, path: p.path, subject, peers, ports });
    });
  }
}

function networkPolicyPeer(v: unknown, at: Place, namespace: string): PeerMatcher {
  const o = obj(v, at);
  onlyKeys(o, ['podSelector', 'namespaceSelector', 'ipBlock'], at);
  if (o.ipBlock !== undefined) {
    if (o.podSelector !== undefined || o.namespaceSelector !== undefined) at.fail('ipBlock cannot be combined with a selector');
    return cidrPeer(readCidrs([o.ipBlock], at.at('ipBlock')));
  }
  const exprs = o.podSelector === undefined ? [] : expressions(o.podSelector, at.at('podSelector'));
  if (o.namespaceSelector === undefined) exprs.push(inNamespace(namespace));
  else exprs.push(...expressions(o.namespaceSelector, at.at('namespaceSelector'), (k) => `${NAMESPACE_LABELS_PREFIX}${k}`), inNamespace(null));
  return selectorPeer(compileSelector(exprs, at));
}

const KINDS: Record<string, PolicyKind> = {
  CiliumNetworkPolicy: 'CiliumNetworkPolicy',
  CiliumClusterwideNetworkPolicy: 'CiliumClusterwideNetworkPolicy',
  NetworkPolicy: 'NetworkPolicy',
};

function readDocument(doc: Json, label: string, out: PolicySet): void {
  const top = new Place(label, '');
  const kindText = typeof doc.kind === 'string' ? doc.kind : top.at('kind').fail('missing (CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy or NetworkPolicy)');
  if (/List$/.test(kindText)) {
    list(doc.items, top.at('items')).forEach((item, i) => readDocument(obj(item, top.at('items').at(i)), `${label} items[${i}]`, out));
    return;
  }
  const kind = KINDS[kindText];
  if (!kind) {
    out.warnings.push(`${label}: kind ${clip(kindText)} is not a network policy; skipped`);
    return;
  }
  const meta = obj(doc.metadata, top.at('metadata'));
  const name = str(meta.name, top.at('metadata').at('name'));
  const namespace = kind === 'CiliumClusterwideNetworkPolicy' ? null : meta.namespace === undefined ? 'default' : str(meta.namespace, top.at('metadata').at('namespace'));
  const policy: PolicyName = { kind, namespace, name };
  if (out.policies.some((p) => samePolicy(p, policy))) top.fail(`${policyLabel(policy)} is defined twice`);
  out.policies.push(policy);
  const at = new Place(`${label} (${policyLabel(policy)})`, '');
  const scope: Scope = { policy, namespace, warnings: out.warnings };
  if (kind === 'NetworkPolicy') {
    readNetworkPolicy(obj(doc.spec, at.at('spec')), at.at('spec'), scope, out);
    return;
  }
  if (doc.spec === undefined && doc.specs === undefined) at.fail('needs spec or specs');
  if (doc.spec !== undefined) readCiliumSpec(obj(doc.spec, at.at('spec')), at.at('spec'), scope, out);
  list(doc.specs, at.at('specs')).forEach((s, i) => readCiliumSpec(obj(s, at.at('specs').at(i)), at.at('specs').at(i), scope, out));
}

/** Reads policy documents; `source` names the text in errors (a file name, "body"). */
export function parsePolicies(text: string, source: string): PolicySet {
  const out = emptyPolicySet();
  const docs = parseAllDocuments(text);
  const all = Array.isArray(docs) ? docs : [docs];
  if (all.length > MAX_DOCUMENTS) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_POLICY', `${source}: more than ${MAX_DOCUMENTS} documents`, 'policy');
  all.forEach((doc, i) => {
    const label = `${source} document ${i + 1}`;
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const line = e.linePos?.[0];
      throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_POLICY', `${label}${line ? ` line ${line.line} column ${line.col}` : ''}: ${e.message.split('\n')[0]}`, 'policy');
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_POLICY', `${label}: ${(err as Error).message}`, 'policy');
    }
    if (value === null || value === undefined) return;
    readDocument(obj(value, new Place(label, '')), label, out);
    if (out.rules.length > MAX_POLICY_RULES) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_POLICY', `${source}: more than ${MAX_POLICY_RULES} rules`, 'policy');
  });
  if (out.policies.length === 0) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_POLICY', `${source}: no CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy or NetworkPolicy in it`, 'policy');
  return out;
}

/** The policies in force with the proposed ones added, a proposed policy replacing one of the same kind, namespace and name. */
export function mergePolicySets(inForce: PolicySet, proposed: PolicySet): PolicySet {
  const replaced = (p: PolicyName): boolean => proposed.policies.some((q) => samePolicy(q, p));
  return {
    policies: [...inForce.policies.filter((p) => !replaced(p)), ...proposed.policies],
    rules: [...inForce.rules.filter((r) => !replaced(r.policy)), ...proposed.rules],
    enforcements: [...inForce.enforcements.filter((e) => !replaced(e.policy)), ...proposed.enforcements],
    warnings: [...inForce.warnings, ...proposed.warnings],
  };
}

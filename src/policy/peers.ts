import { RESERVED_IDENTITY_NAMES } from '../flows/row.js';
import { parseAddr, prefixContains } from '../query/addresses.js';
import type { Prefix } from '../query/addresses.js';
import type { LabelSelector } from '../query/labels.js';
import type { Pattern } from '../query/patterns.js';
import type { EndpointView, PeerMatcher, Tri } from './model.js';

/**
 * What a rule's peer fields select, judged on the endpoint a flow shows:
 * endpoint selectors, entities, CIDRs, DNS names and services.
 */

/** The label every pod's identity carries with its namespace. */
export const NAMESPACE_LABEL = 'k8s:io.kubernetes.pod.namespace';

/** The reserved identities an endpoint carries (`reserved:world`, …), from its labels or its identity number. */
function reserved(ep: EndpointView): Set<string> {
  const out = new Set<string>();
  for (const l of ep.labels) if (l.startsWith('reserved:')) out.add(l.slice(9).split('=')[0]);
  if (out.size === 0 && ep.labels.length === 0 && RESERVED_IDENTITY_NAMES[ep.identity] && ep.identity !== 0) out.add(RESERVED_IDENTITY_NAMES[ep.identity]);
  return out;
}

function known(ep: EndpointView): boolean {
  return ep.labels.length > 0 || (ep.identity !== 0 && RESERVED_IDENTITY_NAMES[ep.identity] !== undefined);
}

/** Outside the cluster: the world identities, or an identity made of CIDR/FQDN labels only. */
export function isWorld(ep: EndpointView): boolean {
  const r = reserved(ep);
  if (r.has('world') || r.has('world-ipv4') || r.has('world-ipv6')) return true;
  return ep.labels.length > 0 && ep.labels.every((l) => l.startsWith('cidr:') || l.startsWith('fqdn:') || l.startsWith('reserved:world'));
}

/** A pod of this cluster (it carries its namespace label). */
export function isPod(ep: EndpointView): boolean {
  return ep.labels.some((l) => l.startsWith(`${NAMESPACE_LABEL}=`));
}

/** An endpoint whose policy this cluster enforces: a pod, or a node's host endpoint (host policies). */
export function isLocalEndpoint(ep: EndpointView): boolean {
  return isPod(ep) || reserved(ep).has('host');
}

const UNKNOWN_IDENTITY = 'the flow does not record the peer\'s identity or labels';

/** Entities that are one reserved identity each, all inside the cluster. */
export const CLUSTER_ENTITIES = ['host', 'remote-node', 'health', 'init', 'ingress', 'kube-apiserver', 'unmanaged'];

/** Cilium's entities (pkg/policy/api/entity.go) over the identity an endpoint shows. */
export const ENTITIES: Record<string, (ep: EndpointView) => boolean> = {
  all: () => true,
  world: isWorld,
  'world-ipv4': (ep) => isWorld(ep) && !ep.ip.includes(':'),
  'world-ipv6': (ep) => isWorld(ep) && ep.ip.includes(':'),
  cluster: (ep) => isPod(ep) || CLUSTER_ENTITIES.some((e) => reserved(ep).has(e)),
  ...Object.fromEntries(CLUSTER_ENTITIES.map((e) => [e, (ep: EndpointView) => reserved(ep).has(e)])),
};

export function entityPeer(entities: string[]): PeerMatcher {
  return { match: (ep) => (!known(ep) ? 'unknown' : entities.some((e) => ENTITIES[e](ep)) ? 'yes' : 'no'), unknownBecause: UNKNOWN_IDENTITY };
}

export function selectorPeer(selector: LabelSelector): PeerMatcher {
  return { match: (ep) => (!known(ep) ? 'unknown' : selector(ep.labels) ? 'yes' : 'no'), unknownBecause: UNKNOWN_IDENTITY };
}

export interface CidrSpec {
  prefix: Prefix;
  except: Prefix[];
}

/** CIDR rules select peers outside the cluster by address (Cilium gives cluster endpoints their own identities). */
export function cidrPeer(cidrs: CidrSpec[]): PeerMatcher {
  return {
    match: (ep) => {
      if (!known(ep) || ep.ip === '') return 'unknown';
      if (!isWorld(ep)) return 'no';
      const addr = parseAddr(ep.ip);
      if (!addr) return 'unknown';
      return cidrs.some((c) => prefixContains(c.prefix, addr.bytes) && !c.except.some((x) => prefixContains(x, addr.bytes))) ? 'yes' : 'no';
    },
    unknownBecause: 'the flow does not record the peer\'s address or identity',
  };
}

/** toFQDNs: the peer's IP must be one a matching name resolved to. Without any known name for it, undecidable. */
export function fqdnPeer(patterns: Pattern[]): PeerMatcher {
  return {
    match: (ep) => {
      if (!isWorld(ep)) return known(ep) ? 'no' : 'unknown';
      if (ep.names === null || ep.names.length === 0) return 'unknown';
      return ep.names.some((n) => patterns.some((p) => p.test(n))) ? 'yes' : 'no';
    },
    unknownBecause: 'the rule selects by DNS name, and neither the flow nor a DNS answer in the history names this address',
  };
}

/** toServices by name: the flow's destination service. */
export function servicePeer(services: { name: string; namespace: string }[]): PeerMatcher {
  return { match: (ep) => (ep.service && services.some((s) => s.name === ep.service!.name && s.namespace === ep.service!.namespace) ? 'yes' : 'no'), unknownBecause: '' };
}

/** A peer that cannot be judged from flows (e.g. a service selected by its labels). */
export function undecidablePeer(field: string): PeerMatcher {
  return { match: (): Tri => 'unknown', unknownBecause: `${field} selects peers flows do not identify` };
}

/** Any of the peers: yes if one says yes, else unknown (with the reason) if one cannot tell. */
export function anyPeer(peers: PeerMatcher[], ep: EndpointView): { match: Tri; because: string } {
  let answer: { match: Tri; because: string } = { match: 'no', because: '' };
  for (const p of peers) {
    const m = p.match(ep);
    if (m === 'yes') return { match: 'yes', because: '' };
    if (m === 'unknown' && answer.match === 'no') answer = { match: 'unknown', because: p.unknownBecause };
  }
  return answer;
}

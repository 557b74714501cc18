import type { LabelSelector } from '../query/labels.js';
import type { Pattern } from '../query/patterns.js';

/**
 * The policy model: CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and
 * Kubernetes NetworkPolicy documents compiled to one list of rules, each able
 * to say whether it applies to one connection as Hubble recorded it.
 */

export type Direction = 'ingress' | 'egress';
export type PolicyKind = 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy' | 'NetworkPolicy';

export interface PolicyName {
  kind: PolicyKind;
  /** null for a clusterwide policy */
  namespace: string | null;
  name: string;
}

/** Whether a rule applies: yes, no, or cannot be told from what Hubble recorded. */
export type Tri = 'yes' | 'no' | 'unknown';

/** One side of a connection as a flow shows it. */
export interface EndpointView {
  /** Cilium labels ("source:key=value"); a host endpoint carries its node's labels too */
  labels: string[];
  identity: number;
  namespace: string;
  /** The endpoint's first workload, else its pod (how reports name it) */
  workload: string;
  ip: string;
  /** DNS names known for the IP: what Hubble recorded on the flow, else answers seen in the history */
  names: string[] | null;
  service: { name: string; namespace: string } | null;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMPv4' | 'ICMPv6' | '';

export function isIcmp(protocol: Protocol): protocol is 'ICMPv4' | 'ICMPv6' {
  return protocol === 'ICMPv4' || protocol === 'ICMPv6';
}

/** A connection, oriented from its initiator (a reply is turned around). */
export interface Connection {
  src: EndpointView;
  dst: EndpointView;
  protocol: Protocol;
  /** The service port (0 when the protocol has none) */
  port: number;
  icmpType: number | null;
  http: { method: string; path: string; host: string; headers: { key: string; value: string }[] } | null;
  dns: { query: string } | null;
}

/** Who a rule lets in (ingress) or out to (egress). */
export interface PeerMatcher {
  match(peer: EndpointView): Tri;
  /** Why the answer can be 'unknown' */
  unknownBecause: string;
}

export interface PortSpec {
  /** a number, or a named port (which flows cannot resolve) */
  port: number | string;
  endPort: number;
  protocol: 'TCP' | 'UDP' | 'SCTP' | 'ANY';
}

export interface IcmpSpec {
  family: 'IPv4' | 'IPv6';
  type: number;
}

export interface HttpRule {
  method: Pattern | null;
  path: Pattern | null;
  host: Pattern | null;
  /** every header must be present (with this value when one is given) */
  headers: { name: string; value: string | null }[];
}

/** The L7 part of a toPorts entry: requests must match one of these rules. */
export interface L7Rules {
  http: HttpRule[] | null;
  dns: Pattern[] | null;
  /** an L7 protocol flowkeeper does not evaluate (kafka, l7proto): requests cannot be judged */
  unsupported: string | null;
}

export interface PortRule {
  /** empty with icmps empty: any port */
  ports: PortSpec[];
  icmps: IcmpSpec[];
  l7: L7Rules | null;
}

export interface PolicyRule {
  policy: PolicyName;
  direction: Direction;
  deny: boolean;
  /** Where the rule is in its document, e.g. "spec.ingress[1]" */
  path: string;
  /** Which endpoints the rule protects */
  subject: LabelSelector;
  /** null: any peer (a rule with ports only) */
  peers: PeerMatcher[] | null;
  /** empty: every port and protocol */
  ports: PortRule[];
}

/** A policy that puts the endpoints it selects into default deny in one direction. */
export interface Enforcement {
  policy: PolicyName;
  direction: Direction;
  subject: LabelSelector;
}

export interface PolicySet {
  policies: PolicyName[];
  rules: PolicyRule[];
  enforcements: Enforcement[];
  /** What was read but is not evaluated (each names its document and path) */
  warnings: string[];
}

/** A set with no policy in it (what parsing fills in). */
export function emptyPolicySet(): PolicySet {
  return { policies: [], rules: [], enforcements: [], warnings: [] };
}

export function policyLabel(p: PolicyName): string {
  return `${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}`;
}

export function samePolicy(a: PolicyName, b: PolicyName): boolean {
  return a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}

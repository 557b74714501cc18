import type { Connection, Direction, EndpointView, PolicyName, PolicyRule, PolicySet, PortRule, Tri } from './model.js';
import { anyPeer, isLocalEndpoint } from './peers.js';
import { l7Verdict, portRuleMatches } from './ports.js';

/**
 * Cilium's decision for one connection under a policy set, in each direction
 * that applies: egress at the initiator, ingress at the receiver (each when it
 * is an endpoint of this cluster). Deny rules win; then an allow rule; an
 * endpoint selected by a policy with a section for that direction denies the
 * rest (default deny); one that no policy selects there allows everything.
 */

export type Outcome = 'allowed' | 'denied' | 'undecidable';

export type Reason =
  | 'not-enforced' // no policy selects the endpoint in this direction
  | 'allow-rule'
  | 'l7-allowed' // an L7 rule allowed the recorded request
  | 'proxied' // allowed to the L7 proxy; no request was recorded to judge
  | 'deny-rule'
  | 'l7-denied' // the proxy would refuse the recorded request
  | 'default-deny'
  | 'undecidable';

export interface RuleRef {
  policy: PolicyName;
  direction: Direction;
  path: string;
}

export interface DirectionDecision {
  direction: Direction;
  outcome: Outcome;
  reason: Reason;
  /** The rule that decided (allow, deny or L7); for default deny, null with `enforcedBy` set */
  rule: RuleRef | null;
  /** Policies that put the endpoint into default deny in this direction */
  enforcedBy: PolicyName[];
  /** For 'undecidable': the rule that could not be judged */
  why?: string;
}

export interface Decision {
  outcome: Outcome;
  /** The direction that decided a denial or left it undecidable; the allow decisions otherwise */
  decisive: DirectionDecision | null;
  directions: DirectionDecision[];
}

function ref(r: PolicyRule): RuleRef {
  return { policy: r.policy, direction: r.direction, path: r.path };
}

function and(a: Tri, b: Tri): Tri {
  if (a === 'no' || b === 'no') return 'no';
  return a === 'unknown' || b === 'unknown' ? 'unknown' : 'yes';
}

/** Whether a rule's peers and ports cover the connection, and which of its port entries did. */
function ruleMatch(r: PolicyRule, peer: EndpointView, c: Connection): { match: Tri; ports: PortRule[]; because: string } {
  const { match: peerMatch, because } = r.peers === null ? { match: 'yes' as Tri, because: '' } : anyPeer(r.peers, peer);
  if (peerMatch === 'no') return { match: 'no', ports: [], because };
  if (r.ports.length === 0) return { match: peerMatch, ports: [], because };
  let portMatch: Tri = 'no';
  const matched: PortRule[] = [];
  for (const p of r.ports) {
    const m = portRuleMatches(p, c);
    if (m === 'yes') matched.push(p);
    if (m === 'yes' || (m === 'unknown' && portMatch === 'no')) portMatch = m;
  }
  const match = and(peerMatch, portMatch);
  return { match, ports: matched, because: peerMatch === 'unknown' ? because : 'the rule names a port by name, and flows carry port numbers only' };
}

/** Evaluates policy sets against connections; remembers which rules ever matched (dead rules are the rest). */
export class PolicyEvaluator {
  readonly matched = new Set<PolicyRule>();
  private readonly byDirection: Record<Direction, PolicyRule[]>;

  constructor(readonly set: PolicySet) {
    this.byDirection = { ingress: set.rules.filter((r) => r.direction === 'ingress'), egress: set.rules.filter((r) => r.direction === 'egress') };
  }

  evaluate(c: Connection): Decision {
    const directions: DirectionDecision[] = [];
    if (isLocalEndpoint(c.src)) directions.push(this.direction('egress', c.src, c.dst, c));
    if (isLocalEndpoint(c.dst)) directions.push(this.direction('ingress', c.dst, c.src, c));
    const denied = directions.find((d) => d.outcome === 'denied');
    if (denied) return { outcome: 'denied', decisive: denied, directions };
    const unknown = directions.find((d) => d.outcome === 'undecidable');
    if (unknown) return { outcome: 'undecidable', decisive: unknown, directions };
    return { outcome: 'allowed', decisive: null, directions };
  }

  private direction(direction: Direction, subject: EndpointView, peer: EndpointView, c: Connection): DirectionDecision {
    const rules = this.byDirection[direction].filter((r) => r.subject(subject.labels));
    const enforcedBy = this.set.enforcements.filter((e) => e.direction === direction && e.subject(subject.labels)).map((e) => e.policy);
    const base = { direction, enforcedBy };
    let deniedBy: PolicyRule | null = null;
    let denyUnknown: { rule: PolicyRule; because: string } | null = null;
    let allowedBy: PolicyRule | null = null;
    let allowUnknown: { rule: PolicyRule; because: string } | null = null;
    const l7: { rule: PolicyRule; port: PortRule }[] = [];
    for (const r of rules) {
      const { match, ports, because } = ruleMatch(r, peer, c);
      if (match === 'yes') this.matched.add(r);
      if (r.deny) {
        if (match === 'yes') deniedBy ??= r;
        else if (match === 'unknown') denyUnknown ??= { rule: r, because };
        continue;
      }
      if (match === 'unknown') allowUnknown ??= { rule: r, because };
      if (match !== 'yes') continue;
      const withL7 = ports.filter((p) => p.l7 !== null);
      // An L3/L4 allow on the same port lets every request through, whatever another rule's L7 part says.
      if (withL7.length === 0 || withL7.length < ports.length) allowedBy ??= r;
      else for (const port of withL7) l7.push({ rule: r, port });
    }
    if (deniedBy) return { ...base, outcome: 'denied', reason: 'deny-rule', rule: ref(deniedBy) };
    if (denyUnknown) return { ...base, outcome: 'undecidable', reason: 'undecidable', rule: ref(denyUnknown.rule), why: `a deny rule may apply: ${denyUnknown.because}` };
    if (allowedBy) return { ...base, outcome: 'allowed', reason: 'allow-rule', rule: ref(allowedBy) };
    if (l7.length > 0) {
      const verdicts = l7.map((x) => ({ ...x, v: l7Verdict(x.port.l7!, c) }));
      const yes = verdicts.find((x) => x.v === 'yes') ?? verdicts.find((x) => x.v === 'proxied');
      if (yes) return { ...base, outcome: 'allowed', reason: yes.v === 'yes' ? 'l7-allowed' : 'proxied', rule: ref(yes.rule) };
      const unknown = verdicts.find((x) => x.v === 'unknown');
      if (unknown) return { ...base, outcome: 'undecidable', reason: 'undecidable', rule: ref(unknown.rule), why: 'its L7 rules are of a kind flowkeeper does not evaluate' };
      return { ...base, outcome: 'denied', reason: 'l7-denied', rule: ref(verdicts[0].rule) };
    }
    if (allowUnknown) return { ...base, outcome: 'undecidable', reason: 'undecidable', rule: ref(allowUnknown.rule), why: allowUnknown.because };
    if (enforcedBy.length > 0) return { ...base, outcome: 'denied', reason: 'default-deny', rule: null };
    return { ...base, outcome: 'allowed', reason: 'not-enforced', rule: null };
  }
}

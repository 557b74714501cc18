import { formatTimestamp } from '../flows/jsonpb.js';
import type { FlowRecord } from '../flows/record.js';
import type { FlowClasses } from '../store/flow-classes.js';
import type { Connection, EndpointView, PolicySet } from './model.js';
import { isIcmp, policyLabel } from './model.js';
import { connectionOf, dnsAnswers, observedOutcome } from './connection.js';
import type { Observed } from './connection.js';
import { PolicyEvaluator } from './evaluate.js';
import type { Decision } from './evaluate.js';
import { isWorld } from './peers.js';

/**
 * Policy replay: every class of stored flows judged under a policy set,
 * compared with what Hubble observed, and grouped the way people read it —
 * what would newly be denied, newly allowed, or cannot be told.
 */

export type Change = 'newly-denied' | 'newly-allowed' | 'unchanged' | 'undecidable' | 'not-policy';

export interface ReplayGroup {
  change: Change;
  source: string;
  destination: string;
  /** "TCP/8443", "ICMPv4 type 8" */
  port: string;
  /** "POST /v1/charge", "DNS api.stripe.com." or "" */
  l7: string;
  observed: Observed;
  predicted: 'allowed' | 'denied' | 'undecidable';
  /** "allowed by CiliumNetworkPolicy payments/x spec.ingress[0]", "default deny (…)", … */
  decidedBy: string;
  why?: string;
  flows: number;
  firstSeen: string;
  lastSeen: string;
  /** Up to SAMPLES stored flows of the group */
  samples: FlowRecord[];
}

export interface ReplayReport {
  since: string;
  until: string;
  policies: string[];
  warnings: string[];
  /** Flows read; classes evaluated (identical flows are evaluated once) */
  flows: number;
  classes: number;
  /** Set when not every flow of the range was read */
  incomplete: string | null;
  summary: Record<Change, number>;
  newlyDenied: ReplayGroup[];
  newlyAllowed: ReplayGroup[];
  undecidable: ReplayGroup[];
  unchanged: ReplayGroup[];
  /** Groups left out of each list beyond `top` */
  omitted: Record<'newlyDenied' | 'newlyAllowed' | 'undecidable' | 'unchanged', number>;
  /** Rules no replayed flow matched */
  deadRules: { policy: string; path: string }[];
}

const SAMPLES = 3;

function endpointName(ep: EndpointView): string {
  if (ep.namespace) return `${ep.namespace}/${ep.workload}`;
  if (isWorld(ep)) return `world ${ep.names?.[0] ?? ep.ip}`.trim();
  return ep.labels.find((l) => l.startsWith('reserved:')) ?? (ep.ip || `identity ${ep.identity}`);
}

function portOf(c: Connection): string {
  if (isIcmp(c.protocol)) return `${c.protocol} type ${c.icmpType ?? 0}`;
  return c.protocol ? `${c.protocol}/${c.port}` : '';
}

function l7Of(c: Connection): string {
  if (c.http) return `${c.http.method} ${c.http.path.split('?')[0]}`.trim();
  if (c.dns) return `DNS ${c.dns.query}`;
  return '';
}

function describeDecision(decision: Decision): string {
  const d = decision.decisive;
  if (!d) {
    const parts = decision.directions.map((x) => `${x.direction}: ${x.rule ? `${policyLabel(x.rule.policy)} ${x.rule.path}` : 'no policy selects it'}`);
    return parts.length ? `allowed (${parts.join('; ')})` : 'allowed (neither side is an endpoint of this cluster)';
  }
  const rule = d.rule ? `${policyLabel(d.rule.policy)} ${d.rule.path}` : '';
  switch (d.reason) {
    case 'deny-rule':
      return `${d.direction} denied by ${rule}`;
    case 'l7-denied':
      return `${d.direction} request refused by the L7 rules of ${rule}`;
    case 'default-deny':
      return `${d.direction} default deny (selected by ${d.enforcedBy.map(policyLabel).join(', ')})`;
    case 'undecidable':
      return `${d.direction} ${rule}`;
    default:
      return `${d.direction} ${d.reason} ${rule}`;
  }
}

function changeOf(observed: Observed, predicted: Decision['outcome']): Change {
  if (observed === 'dropped-other') return 'not-policy';
  if (predicted === 'undecidable') return 'undecidable';
  if (observed === 'allowed' && predicted === 'denied') return 'newly-denied';
  if (observed === 'denied' && predicted === 'allowed') return 'newly-allowed';
  return 'unchanged';
}

function rfc3339(t: { seconds: number; nanos: number }): string {
  return formatTimestamp(t.seconds, t.nanos);
}

/** Classes judged between two yields to the event loop (judging runs on the main thread, beside ingest). */
const CLASSES_PER_SLICE = 2_000;

export async function buildReplayReport(set: PolicySet, scan: FlowClasses, range: { since: string; until: string }, top: number): Promise<ReplayReport> {
  const names = dnsAnswers(scan.classes.map((c) => c.sample));
  const evaluator = new PolicyEvaluator(set);
  const groups = new Map<string, ReplayGroup>();
  const summary: Record<Change, number> = { 'newly-denied': 0, 'newly-allowed': 0, unchanged: 0, undecidable: 0, 'not-policy': 0 };
  let judged = 0;
  // In time order, whatever order the store grouped them in: groups, their samples and ties then read the same on every engine.
  const classes = [...scan.classes].sort((a, b) => a.first.seconds - b.first.seconds || a.first.nanos - b.first.nanos || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const cls of classes) {
    if (++judged % CLASSES_PER_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
    const f = cls.sample;
    const c = connectionOf(f, (ip) => names.get(ip) ?? null);
    const decision = evaluator.evaluate(c);
    const observed = observedOutcome(f);
    const change = changeOf(observed, decision.outcome);
    summary[change] += cls.flows;
    const g: Omit<ReplayGroup, 'flows' | 'firstSeen' | 'lastSeen' | 'samples'> = {
      change,
      source: endpointName(c.src),
      destination: endpointName(c.dst),
      port: portOf(c),
      l7: l7Of(c),
      observed,
      predicted: decision.outcome,
      decidedBy: describeDecision(decision),
      ...(decision.decisive?.why ? { why: decision.decisive.why } : {}),
    };
    const key = JSON.stringify(g);
    const first = rfc3339(cls.first);
    const last = rfc3339(cls.last);
    const seen = groups.get(key);
    if (seen) {
      seen.flows += cls.flows;
      if (first < seen.firstSeen) seen.firstSeen = first;
      if (last > seen.lastSeen) seen.lastSeen = last;
      if (seen.samples.length < SAMPLES) seen.samples.push(f);
    } else {
      groups.set(key, { ...g, flows: cls.flows, firstSeen: first, lastSeen: last, samples: [f] });
    }
  }
  const list = (change: Change): ReplayGroup[] => [...groups.values()].filter((g) => g.change === change).sort((a, b) => b.flows - a.flows || (a.firstSeen < b.firstSeen ? -1 : a.firstSeen > b.firstSeen ? 1 : 0));
  const cut = (all: ReplayGroup[]): [ReplayGroup[], number] => [all.slice(0, top), Math.max(0, all.length - top)];
  const [newlyDenied, od] = cut(list('newly-denied'));
  const [newlyAllowed, oa] = cut(list('newly-allowed'));
  const [undecidable, ou] = cut(list('undecidable'));
  const [unchanged, oc] = cut(list('unchanged').map((g) => ({ ...g, samples: [] })));
  return {
    ...range,
    policies: set.policies.map(policyLabel),
    warnings: set.warnings,
    flows: scan.flows,
    classes: scan.classes.length,
    incomplete: scan.truncated === null ? null
      : `${scan.truncated === 'deadline' ? 'ran out of time' : `more than ${scan.classes.length} distinct kinds of flow`}: not every flow from ${scan.readUntil ? rfc3339(scan.readUntil) : 'the start'} on was read; narrow the range or the filters`,
    summary,
    newlyDenied, newlyAllowed, undecidable, unchanged,
    omitted: { newlyDenied: od, newlyAllowed: oa, undecidable: ou, unchanged: oc },
    deadRules: set.rules.filter((r) => !evaluator.matched.has(r)).map((r) => ({ policy: policyLabel(r.policy), path: r.path })),
  };
}

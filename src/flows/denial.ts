import { FlowType, lookupEnum } from './schema.js';

/**
 * flowkeeper's one rule for policy denials: a policy-verdict event (monitor
 * type 5) with verdict DROPPED and reason POLICY_DENIED or POLICY_DENY. The
 * drop event Cilium emits beside it is a dropped packet, not a second denial.
 * One that names no policy was denied because no rule allowed it: "default-deny".
 */
export const POLICY_VERDICT_EVENT = 5;
const DropReason = lookupEnum('flow.DropReason');
const Verdict = lookupEnum('flow.Verdict');
export const POLICY_DENIED_REASONS: readonly number[] = [DropReason.values.POLICY_DENIED, DropReason.values.POLICY_DENY];
export const DEFAULT_DENY = 'default-deny';
/** How the drop event beside a denial is labelled where a policy is asked for. */
export const POLICY_DROP_EVENT = 'drop-event';
const DROP_EVENT = 1;

export function isPolicyDenial(verdict: number, eventType: number | null, dropReason: number): boolean {
  return verdict === Verdict.values.DROPPED && eventType === POLICY_VERDICT_EVENT && POLICY_DENIED_REASONS.includes(dropReason);
}

/** The drop event (monitor type 1) of a packet a policy denied: the dropped packet, not the denial. */
export function isPolicyDropEvent(verdict: number, eventType: number | null, dropReason: number): boolean {
  return verdict === Verdict.values.DROPPED && eventType === DROP_EVENT && POLICY_DENIED_REASONS.includes(dropReason);
}

/** The denying policies of a flow as metrics and aggregates name them: every name (sorted, "ns/name"), and the first one's namespace and kind. */
export interface PolicyInfo {
  names: string;
  namespace: string;
  kind: string;
}

type Policy = { name?: string; namespace?: string; kind?: string };

/** The PolicyInfo of a flow's egress/ingress_denied_by fields (raw Flow bytes holding only them, as the stores keep them). */
export function deniedPolicyInfo(raw: Uint8Array): PolicyInfo {
  const msg = FlowType.decode(raw) as unknown as Record<string, Policy[] | undefined>;
  const all = [...(msg.egress_denied_by ?? []), ...(msg.ingress_denied_by ?? [])];
  const names = [...new Set(all.map((p) => (p.namespace ? `${p.namespace}/${p.name ?? ''}` : (p.name ?? ''))))].sort().join(',');
  return { names, namespace: all[0]?.namespace ?? '', kind: all[0]?.kind ?? '' };
}

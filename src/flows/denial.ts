import { lookupEnum } from './schema.js';

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

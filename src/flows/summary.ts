import type { JsonObject } from './jsonpb.js';
import type { FlowRecord } from './record.js';
import { DEFAULT_DENY, isPolicyDenial } from './denial.js';
import { enumNumber, lookupEnum } from './schema.js';
import { EVENT_TYPE_NAMES } from './row.js';

const Verdict = lookupEnum('flow.Verdict');
const DropReason = lookupEnum('flow.DropReason');

function endpoint(flow: FlowRecord, side: 'source' | 'destination', ipKey: 'source' | 'destination', portKey: string): JsonObject {
  const ep = (flow[side] ?? {}) as JsonObject;
  const ip = ((flow.IP ?? {}) as JsonObject)[ipKey];
  const l4 = (flow.l4 ?? {}) as JsonObject;
  const body = Object.values(l4)[0] as JsonObject | undefined;
  const workloads = (ep.workloads ?? []) as JsonObject[];
  const names = (flow[`${side}_names`] ?? []) as string[];
  return {
    namespace: (ep.namespace as string) ?? '',
    pod: (ep.pod_name as string) ?? '',
    workload: (workloads[0]?.name as string) ?? '',
    identity: (ep.identity as number) ?? 0,
    ip: (ip as string) ?? '',
    port: (body?.[portKey] as number) ?? 0,
    names,
  };
}

function policyNames(list: unknown): string[] {
  return ((list ?? []) as JsonObject[]).map((p) => (p.namespace ? `${p.namespace}/${p.name}` : String(p.name)));
}

/** The flow's event kind by name: a policy-verdict event and the drop event it caused are told apart. */
export function eventName(flow: FlowRecord): string {
  const type = ((flow.event_type ?? {}) as JsonObject).type as number | undefined;
  return type === undefined ? '' : (EVENT_TYPE_NAMES[type] ?? String(type));
}

/** The policies that denied the flow; ["default-deny"] for a denial that names none (the API's policy label). */
function deniedBy(flow: FlowRecord): string[] {
  const named = [...policyNames(flow.ingress_denied_by), ...policyNames(flow.egress_denied_by)];
  if (named.length) return named;
  const type = ((flow.event_type ?? {}) as JsonObject).type;
  return isPolicyDenial(enumNumber(Verdict, flow.verdict), typeof type === 'number' ? type : null, enumNumber(DropReason, flow.drop_reason_desc)) ? [DEFAULT_DENY] : [];
}

/** A compact row for UIs: who talked to whom, what happened, and why. */
export function summarize(flow: FlowRecord): JsonObject {
  const l4 = Object.keys((flow.l4 ?? {}) as JsonObject)[0] ?? '';
  return {
    time: flow.time,
    uuid: (flow.uuid as string) ?? '',
    verdict: (flow.verdict as string) ?? 'VERDICT_UNKNOWN',
    drop_reason: (flow.drop_reason_desc as string) ?? '',
    direction: (flow.traffic_direction as string) ?? 'TRAFFIC_DIRECTION_UNKNOWN',
    type: (flow.Type as string) ?? '',
    event: eventName(flow),
    node: (flow.node_name as string) ?? '',
    protocol: l4,
    source: endpoint(flow, 'source', 'source', 'source_port'),
    destination: endpoint(flow, 'destination', 'destination', 'destination_port'),
    denied_by: deniedBy(flow),
    is_reply: typeof flow.is_reply === 'boolean' ? flow.is_reply : null,
    summary: (flow.Summary as string) ?? '',
  };
}

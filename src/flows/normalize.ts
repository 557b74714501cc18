import { GetFlowsResponseType, FlowType, lookupEnum } from './schema.js';

const DropReason = lookupEnum('flow.DropReason');
import { messageToJsonpb } from './jsonpb.js';
import type { FlowRecord } from './record.js';

/**
 * The normalisation every FlowRecord gets, wherever it was built: `is_reply`
 * from the deprecated `reply` when only that was sent, `drop_reason_desc` from
 * the numeric `drop_reason` when only that was sent.
 */
export function normalizeRecord(flow: FlowRecord): FlowRecord {
  const derived: string[] = [];
  if (flow.is_reply === undefined && flow.reply === true) {
    flow.is_reply = true;
    derived.push('is_reply');
  }
  if (flow.drop_reason_desc === undefined && typeof flow.drop_reason === 'number' && flow.drop_reason !== 0) {
    flow.drop_reason_desc = DropReason.valuesById[flow.drop_reason] ?? flow.drop_reason;
    derived.push('drop_reason_desc');
  }
  if (derived.length) derivedFields.set(flow, derived);
  return flow;
}

const derivedFields = new WeakMap<FlowRecord, string[]>();

/** The flow as the relay sent it: without the fields normalisation filled in (for faithful replay, e.g. the Observer API). */
export function asSent(flow: FlowRecord): FlowRecord {
  const derived = derivedFields.get(flow);
  if (!derived) return flow;
  const copy = { ...flow };
  for (const key of derived) delete copy[key];
  return copy;
}

/** Decodes one raw GetFlowsResponse to a FlowRecord, or null when it carries no flow. Throws on malformed bytes. */
export function decodeFlowRecord(message: Uint8Array): FlowRecord | null {
  const resp = GetFlowsResponseType.decode(message) as unknown as { flow?: Record<string, unknown> };
  if (!resp.flow) return null;
  return normalizeRecord(messageToJsonpb(FlowType, resp.flow) as FlowRecord);
}

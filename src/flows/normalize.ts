import { GetFlowsResponseType, FlowType, lookupEnum } from './schema.js';
import { messageToJsonpb } from './jsonpb.js';
import type { JsonObject } from './jsonpb.js';
import type { FlowRecord } from './record.js';

const DropReason = lookupEnum('flow.DropReason');

/**
 * The normalisation every FlowRecord gets, wherever it was built: `is_reply`
 * from the deprecated `reply` when only that was sent, `drop_reason_desc` from
 * the numeric `drop_reason` when only that was sent.
 */
export function normalizeRecord(flow: FlowRecord): FlowRecord {
  const derived = addDerivedFields(flow, flow);
  if (derived.length) derivedFields.set(flow, derived);
  return flow;
}

/**
 * Adds to `into` the fields normalisation derives from a flow's sent fields,
 * `sent` (its record, or its message as protobufjs decoded it: the names are
 * the same), in that order; returns their names.
 */
export function addDerivedFields(into: JsonObject, sent: Record<string, unknown>): string[] {
  const derived: string[] = [];
  if ((sent.is_reply === undefined || sent.is_reply === null) && sent.reply === true) {
    into.is_reply = true;
    derived.push('is_reply');
  }
  if (!sent.drop_reason_desc && typeof sent.drop_reason === 'number' && sent.drop_reason !== 0) {
    into.drop_reason_desc = DropReason.valuesById[sent.drop_reason] ?? sent.drop_reason;
    derived.push('drop_reason_desc');
  }
  return derived;
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

/** A relay's flow as protobufjs decodes it, before it becomes a FlowRecord. */
export type DecodedFlow = Record<string, unknown>;

/** The flow of one raw GetFlowsResponse, decoded but not converted; null when it carries no flow. Throws on malformed bytes. */
export function decodeFlow(message: Uint8Array): DecodedFlow | null {
  const resp = GetFlowsResponseType.decode(message) as unknown as { flow?: DecodedFlow | null };
  return resp.flow ?? null;
}

/** A decoded flow as a FlowRecord. */
export function recordOf(flow: DecodedFlow): FlowRecord {
  return normalizeRecord(messageToJsonpb(FlowType, flow) as FlowRecord);
}

/** Decodes one raw GetFlowsResponse to a FlowRecord, or null when it carries no flow. Throws on malformed bytes. */
export function decodeFlowRecord(message: Uint8Array): FlowRecord | null {
  const flow = decodeFlow(message);
  return flow ? recordOf(flow) : null;
}

import type { JsonObject } from './jsonpb.js';

/**
 * FlowRecord: one Hubble flow as flowkeeper hands it out, in the protojson shape
 * `hubble observe -o jsonpb` prints inside `{"flow": ...}` (proto field names,
 * enum names, RFC3339 time). Normalised on the way in: `is_reply` is filled from
 * the deprecated `reply` when only that was sent, and `drop_reason_desc` from the
 * numeric `drop_reason`; the deprecated spellings are kept as they were sent.
 */
export interface FlowRecord extends JsonObject {
  time: string;
}

/** A flow's time as the protobuf Timestamp carries it. */
export interface FlowTime {
  seconds: number;
  nanos: number;
}

/** One line of `hubble observe -o jsonpb`: a GetFlowsResponse carrying a flow. */
export interface FlowResponseJson extends JsonObject {
  flow: FlowRecord;
  node_name: string;
  time: string;
}

export function toResponseJson(flow: FlowRecord): FlowResponseJson {
  const node = typeof flow.node_name === 'string' ? flow.node_name : '';
  return { flow, node_name: node, time: flow.time };
}

/** The live stream's WebSocket frame for a flow: `{"type":"flow", ...GetFlowsResponse jsonpb}`. */
export function wsFlowFrame(flow: FlowRecord): string {
  return JSON.stringify({ type: 'flow', ...toResponseJson(flow) });
}

/** One flow's identity across the live stream and the store: its uuid, or its time, node and 5-tuple. */
export function flowKey(f: FlowRecord): string {
  return typeof f.uuid === 'string' && f.uuid !== '' ? f.uuid : `${f.time}|${String(f.node_name)}|${JSON.stringify(f.IP ?? null)}|${JSON.stringify(f.l4 ?? null)}`;
}

import { lookupEnum } from '../flows/schema.js';

/** Enum name ↔ number for the enums filters compare, from proto/ (never written twice). */
export const Enums = {
  Verdict: lookupEnum('flow.Verdict'),
  DropReason: lookupEnum('flow.DropReason'),
  TrafficDirection: lookupEnum('flow.TrafficDirection'),
  IPVersion: lookupEnum('flow.IPVersion'),
  FlowType: lookupEnum('flow.FlowType'),
  TraceObservationPoint: lookupEnum('flow.TraceObservationPoint'),
  L7FlowType: lookupEnum('flow.L7FlowType'),
  LostEventSource: lookupEnum('flow.LostEventSource'),
  NodeState: lookupEnum('relay.NodeState'),
};

export { enumNumber } from '../flows/schema.js';

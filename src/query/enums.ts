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

/** The number of an enum field as FlowRecord carries it (a name, a raw number, or absent = 0). */
export function enumNumber(e: { values: Record<string, number> }, value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return e.values[value] ?? -1;
  return 0;
}

import protobuf from 'protobufjs';
import { PROTO_DIR } from '../paths.js';
import { join } from 'node:path';

/**
 * The protobufjs view of flowkeeper's own proto files (proto/). Used wherever a
 * message is decoded or encoded as a whole: dictionary entries, the simulator,
 * jsonpb conversion. The ingest hot path scans bytes itself (see scan.ts).
 */
export function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    // google/protobuf/* resolve to protobufjs' bundled well-known types.
    if (target.startsWith('google/protobuf/')) return target;
    return join(PROTO_DIR, target.replace(/^.*?proto[\\/]/, ''));
  };
  root.loadSync('observer/observer.proto', { keepCase: true });
  root.resolveAll();
  return root;
}

export const root = loadRoot();

export const FlowType = root.lookupType('flow.Flow');
export const EndpointType = root.lookupType('flow.Endpoint');
export const FlowFilterType = root.lookupType('flow.FlowFilter');
export const GetFlowsResponseType = root.lookupType('observer.GetFlowsResponse');

export function lookupType(name: string): protobuf.Type {
  return root.lookupType(name);
}

export function lookupEnum(name: string): protobuf.Enum {
  return root.lookupEnum(name);
}

/** The number of an enum field as FlowRecord carries it (a name, a raw number, or absent = 0). */
export function enumNumber(e: { values: Record<string, number> }, value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return e.values[value] ?? -1;
  return 0;
}

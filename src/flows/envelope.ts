import { WireCursor, WIRE_BYTES, readTimestamp } from './wire.js';
import { lookupType } from './schema.js';

/** What one GetFlowsResponse carries (its oneof), with the byte range of the payload. */
export const ResponseKind = { Unknown: 0, Flow: 1, NodeStatus: 2, LostEvents: 3 } as const;
export type ResponseKind = (typeof ResponseKind)[keyof typeof ResponseKind];

export interface Envelope {
  kind: ResponseKind;
  start: number;
  end: number;
  nodeName: string;
  seconds: number;
  nanos: number;
}

/** Scans a GetFlowsResponse without decoding its payload. Throws WireError when malformed. */
export function scanEnvelope(buf: Buffer, start: number, end: number): Envelope {
  const c = new WireCursor(buf, start, end);
  const env: Envelope = { kind: ResponseKind.Unknown, start: 0, end: 0, nodeName: '', seconds: 0, nanos: 0 };
  while (!c.done) {
    const tag = c.tag();
    const field = Math.floor(tag / 8);
    if ((tag & 7) !== WIRE_BYTES) {
      c.skip(tag & 7);
      continue;
    }
    const e = c.delimited();
    if (field >= 1 && field <= 3) {
      env.kind = field as ResponseKind;
      env.start = c.pos;
      env.end = e;
    } else if (field === 1000) {
      env.nodeName = buf.toString('utf8', c.pos, e);
    } else if (field === 1001) {
      const ts = readTimestamp(buf, c.pos, e);
      env.seconds = ts.seconds;
      env.nanos = ts.nanos;
    }
    c.pos = e;
  }
  return env;
}

/**
 * The verdict of the flow in a raw GetFlowsResponse (0 when unset), or null
 * when the message carries no flow. Cheap: walks only top-level fields.
 */
export function peekFlowVerdict(buf: Buffer): number | null {
  const env = scanEnvelope(buf, 0, buf.length);
  if (env.kind !== ResponseKind.Flow) return null;
  const c = new WireCursor(buf, env.start, env.end);
  let verdict = 0;
  while (!c.done) {
    const tag = c.tag();
    if (tag === 0x10) verdict = c.varint();
    else c.skip(tag & 7);
  }
  return verdict;
}

const LostEventType = lookupType('flow.LostEvent');
const NodeStatusEventType = lookupType('relay.NodeStatusEvent');

export interface LostEventInfo {
  source: number;
  numEventsLost: number;
  cpu: number | null;
}

export function decodeLostEvent(buf: Buffer, start: number, end: number): LostEventInfo {
  const m = LostEventType.toObject(LostEventType.decode(buf.subarray(start, end)), { longs: Number, defaults: true });
  return { source: m.source as number, numEventsLost: m.num_events_lost as number, cpu: m.cpu ? (m.cpu.value as number) : null };
}

export interface NodeStatusInfo {
  state: number;
  nodeNames: string[];
  message: string;
}

export function decodeNodeStatus(buf: Buffer, start: number, end: number): NodeStatusInfo {
  const m = NodeStatusEventType.toObject(NodeStatusEventType.decode(buf.subarray(start, end)), {
    defaults: true,
    arrays: true,
  });
  return { state: m.state_change as number, nodeNames: m.node_names as string[], message: m.message as string };
}

import protobuf from 'protobufjs';
import { ByteKeyCache } from '../flows/byte-key-cache.js';
import { messageToJsonpb, partialConverter } from '../flows/jsonpb.js';
import { addDerivedFields } from '../flows/normalize.js';
import type { DecodedFlow } from '../flows/normalize.js';
import { EndpointType, FlowType } from '../flows/schema.js';

/**
 * The live stream's WebSocket text for a flow, `wsFlowFrame(recordOf(flow))`
 * byte for byte, at about half its cost. Endpoints (source and destination)
 * are more than half of a flow's JSON, and a cluster has few of them next to
 * its flows: each distinct endpoint is decoded, converted and stringified once
 * (see cacheEndpointDecodes), and its text is spliced between the flow's other
 * fields, which are stringified as two objects (those before the endpoints in
 * the schema's order, and those after).
 */

/** Distinct endpoints remembered (each ~1.7 KB with its object and text, so ~28 MB at most); when full, the cache starts over. */
const ENDPOINT_CACHE_SIZE = 16_384;

const fieldNames = FlowType.fieldsArray.map((f) => f.name);
const sourceAt = fieldNames.indexOf('source');
if (fieldNames[sourceAt + 1] !== 'destination') throw new Error('flow.proto: Flow.destination must follow Flow.source');
const beforeEndpoints = partialConverter(FlowType, (name) => fieldNames.indexOf(name) < sourceAt);
const afterEndpoints = partialConverter(FlowType, (name) => fieldNames.indexOf(name) > sourceAt + 1);

/** Each decoded endpoint's JSON text, made once per endpoint object (cached decodes hand out one object per distinct bytes). */
const endpointTexts = new WeakMap<object, string>();

function endpointText(endpoint: Record<string, unknown>): string {
  let text = endpointTexts.get(endpoint);
  if (text === undefined) {
    text = JSON.stringify(messageToJsonpb(EndpointType, endpoint));
    endpointTexts.set(endpoint, text);
  }
  return text;
}

/** `"key":text` after `inner`, with a comma when needed. */
function appendField(inner: string, field: string): string {
  return inner === '' ? field : `${inner},${field}`;
}

export function wsFlowText(flow: DecodedFlow): string {
  const head = beforeEndpoints(flow);
  const tail = afterEndpoints(flow);
  addDerivedFields(tail, flow);
  let inner = JSON.stringify(head).slice(1, -1);
  if (flow.source !== undefined && flow.source !== null) inner = appendField(inner, `"source":${endpointText(flow.source as Record<string, unknown>)}`);
  if (flow.destination !== undefined && flow.destination !== null) inner = appendField(inner, `"destination":${endpointText(flow.destination as Record<string, unknown>)}`);
  const rest = JSON.stringify(tail).slice(1, -1);
  if (rest !== '') inner = appendField(inner, rest);
  const node = typeof tail.node_name === 'string' ? tail.node_name : '';
  const time = head.time === undefined ? '' : `,"time":${JSON.stringify(head.time)}`;
  return `{"type":"flow","flow":{${inner}},"node_name":${JSON.stringify(node)}${time}}`;
}

type Decode = (reader: protobuf.Reader | Uint8Array, length?: number, end?: number, depth?: number) => protobuf.Message;

/**
 * Makes this thread's protobufjs decode each distinct endpoint's bytes once:
 * a Flow's decoder then gets the same (shared, never modified) Endpoint object
 * for the same bytes, and wsFlowText its text. Call it once, in the live thread
 * only: everything decoded there is read, never changed.
 */
export function cacheEndpointDecodes(): void {
  EndpointType.setup();
  const decode = EndpointType.decode.bind(EndpointType) as Decode;
  const cache = new ByteKeyCache<protobuf.Message>(ENDPOINT_CACHE_SIZE);
  const cached: Decode = (reader, length, end, depth) => {
    if (!(reader instanceof protobuf.Reader) || length === undefined || end !== undefined || !Buffer.isBuffer(reader.buf)) return decode(reader, length, end, depth);
    const start = reader.pos;
    const stop = start + length;
    if (stop > reader.len) return decode(reader, length, end, depth); // truncated: protobufjs says how
    const hit = cache.get(reader.buf, start, stop);
    if (hit) {
      reader.pos = stop;
      return hit;
    }
    const endpoint = decode(reader, length, end, depth);
    cache.set(reader.buf, start, stop, endpoint);
    return endpoint;
  };
  (EndpointType as unknown as { decode: Decode }).decode = cached;
}

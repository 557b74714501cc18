import protobuf from 'protobufjs';
import { ByteKeyCache } from '../flows/byte-key-cache.js';
import { messageToJsonpb, partialConverter } from '../flows/jsonpb.js';
import { addDerivedFields, decodeFlow, recordOf } from '../flows/normalize.js';
import type { DecodedFlow } from '../flows/normalize.js';
import { wsFlowFrame } from '../flows/record.js';
import { EndpointType, FlowType, loadRoot } from '../flows/schema.js';

/**
 * The live stream's WebSocket text for a flow, `wsFlowFrame(recordOf(flow))`
 * byte for byte, at about three quarters of its cost. Endpoints (source and
 * destination) are more than half of a flow's JSON, and a cluster usually has
 * few of them next to its flows: each distinct endpoint is decoded, converted
 * and stringified once (see decodeLiveFlow), and its text is spliced
 * between the flow's other fields, which are stringified as two objects (those
 * before the endpoints in the schema's order, and those after). Where endpoints
 * rarely repeat, the cache costs more than it saves, and it turns itself off.
 */

/** Distinct endpoints remembered (each ~1.7 KB with its object and text, so ~28 MB at most); when full, the cache starts over. */
const ENDPOINT_CACHE_SIZE = 16_384;
/** Endpoint decodes per verdict on the cache. */
const WINDOW = 8192;
/**
 * The share of hits below which the cache is off: with fewer, the extra work
 * of each miss (a copy of its bytes, a text of its own) outweighs the hits.
 * Measured with the cache always on: 15,620 distinct endpoints in 60,000 flows
 * (~87 % hits) cost 15 µs per flow, 78,763 (~34 %) 22–23 µs, against ~12 µs
 * without the cache.
 */
const MIN_HIT_RATE = 0.9;
/** While off, a window is tried with the cache again after this many flows (~2 endpoints each). */
const RETRY_AFTER = 8 * WINDOW;

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

/** The text with each endpoint's cached text spliced in. */
function splicedText(flow: DecodedFlow): string {
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
 * A second copy of the schema, whose Endpoint decoder is the cache's. The
 * default copy is never hooked: once a decoder has seen two Endpoint decoders,
 * V8 no longer inlines either, and every flow decoded afterwards, cache on or
 * off, costs ~2 µs more.
 */
class EndpointCache {
  on = true;
  private readonly entries = new ByteKeyCache<protobuf.Message>(ENDPOINT_CACHE_SIZE);
  /** The first window fills the cache, and is not judged. */
  private lookups = -WINDOW;
  private hits = 0;
  /** Flows since the cache was turned off. */
  private offFor = 0;
  private readonly responseType: protobuf.Type;

  constructor() {
    const root = loadRoot();
    this.responseType = root.lookupType('observer.GetFlowsResponse');
    const endpointType = root.lookupType('flow.Endpoint');
    endpointType.setup();
    const decode = endpointType.decode.bind(endpointType) as Decode;
    (endpointType as unknown as { decode: Decode }).decode = (reader, length, end, depth) => this.decodeCached(decode, reader, length, end, depth);
  }

  /** A relay message's flow, its endpoints from the cache while it is on. */
  decodeFlow(message: Uint8Array): DecodedFlow | null {
    if (!this.on) {
      if (++this.offFor >= RETRY_AFTER) this.turn(true);
      return decodeFlow(message);
    }
    return (this.responseType.decode(message) as unknown as { flow?: DecodedFlow | null }).flow ?? null;
  }

  private decodeCached(decode: Decode, reader: protobuf.Reader | Uint8Array, length?: number, end?: number, depth?: number): protobuf.Message {
    if (!(reader instanceof protobuf.Reader) || length === undefined || end !== undefined || !Buffer.isBuffer(reader.buf)) return decode(reader, length, end, depth);
    const start = reader.pos;
    const stop = start + length;
    if (stop > reader.len) return decode(reader, length, end, depth); // truncated: protobufjs says how
    this.lookups++;
    let endpoint = this.entries.get(reader.buf, start, stop);
    if (endpoint) {
      this.hits++;
      reader.pos = stop;
    } else {
      endpoint = decode(reader, length, end, depth);
      this.entries.set(reader.buf, start, stop, endpoint);
    }
    if (this.lookups === 0) this.hits = 0;
    else if (this.lookups >= WINDOW) this.turn(this.hits >= MIN_HIT_RATE * this.lookups);
    return endpoint;
  }

  /** Entries are kept while off, so that a retry is judged on a warm cache. */
  private turn(on: boolean): void {
    this.on = on;
    this.lookups = 0;
    this.hits = 0;
    this.offFor = 0;
  }
}

let cache: EndpointCache | null = null;

/**
 * Decodes a relay message's flow for the live stream: each distinct endpoint's
 * bytes are decoded once, and flows with the same endpoint share its (never
 * modified) object, and wsFlowText its text. Only for the live thread, where
 * everything decoded is read, never changed. Throws on malformed bytes.
 */
export function decodeLiveFlow(message: Uint8Array): DecodedFlow | null {
  cache ??= new EndpointCache();
  return cache.decodeFlow(message);
}

/** Whether endpoint texts are reused now (false while the cache is off, or before the first flow). */
export function endpointCacheOn(): boolean {
  return cache?.on === true;
}

/** The live stream's WebSocket text for a decoded flow: wsFlowFrame(recordOf(flow)), the same text. */
export function wsFlowText(flow: DecodedFlow): string {
  return endpointCacheOn() ? splicedText(flow) : wsFlowFrame(recordOf(flow));
}

import { encodeJsonpb, formatTimestamp } from './jsonpb.js';
import type { JsonObject } from './jsonpb.js';
import type { DictionaryLookup, StoredRow } from './materialize.js';
import { asSent } from './normalize.js';
import { toResponseJson } from './record.js';
import type { FlowRecord, FlowTime } from './record.js';
import { writeFlowRow } from './row-wire.js';
import { GetFlowsResponseType } from './schema.js';
import type { WireWriter } from './wire-writer.js';

/** GetFlowsResponse fields (observer.proto). */
const R_FLOW = 1;
const R_NODE_NAME = 1000;
const R_TIME = 1001;

/**
 * Writes the GetFlowsResponse of a stored row from the row's bytes, without a
 * JSON round trip: the flow as the relay sent it, with node_name and time on
 * the response as a relay sets them.
 */
export function writeStoredResponse(w: WireWriter, row: StoredRow, dict: DictionaryLookup): void {
  w.message(R_FLOW, () => writeFlowRow(w, row, dict));
  if (row.node !== null) w.string(R_NODE_NAME, dict.nodeName(row.node));
  w.message(R_TIME, () => {
    w.uint(1, row.seconds);
    w.uint(2, row.nanos);
  });
}

/** The GetFlowsResponse of a flow record (live flows, and stored ones under a field mask). */
export function recordResponse(flow: FlowRecord, mask: ((flow: JsonObject) => JsonObject) | null): Buffer {
  const sent = asSent(flow);
  const body = mask ? mask(sent) : sent;
  return Buffer.from(encodeJsonpb(GetFlowsResponseType, { ...toResponseJson(flow), flow: body }));
}

/** A LostEvents response: `count` flows this follower did not get. */
export function lostEventsResponse(count: number, at: FlowTime): Buffer {
  return Buffer.from(encodeJsonpb(GetFlowsResponseType, {
    lost_events: { source: 'OBSERVER_EVENTS_QUEUE', num_events_lost: String(count) },
    time: formatTimestamp(at.seconds, at.nanos),
  }));
}

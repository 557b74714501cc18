import type { FlowRecord } from '../../flows/record.js';
import { Enums, enumNumber } from '../../query/enums.js';
import { l4Of } from '../../query/dims-l4l7.js';
import { obj } from '../../query/model.js';
import type { RowBinaryWriter } from './row-binary.js';

/**
 * The flows table's columns (migrations/clickhouse), in insert order, and how
 * each comes from a flow. The filter columns hold what Hubble's filters look
 * at; `response` holds the GetFlowsResponse as received, which every answer is
 * decoded from, so a narrowing column can only ever select too much, never
 * change what a flow says.
 */
export const FLOW_COLUMNS = [
  'time_ns', 'seq', 'relay', 'node', 'uuid', 'verdict', 'drop_reason', 'direction', 'event_type', 'is_reply',
  'src_namespace', 'src_pod', 'src_identity', 'dst_namespace', 'dst_pod', 'dst_identity', 'l4', 'src_port', 'dst_port', 'response',
] as const;

export interface FlowRowInput {
  timeNs: bigint;
  seq: bigint;
  relay: string;
  record: FlowRecord;
  response: Uint8Array;
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function uint(v: unknown, max: number): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max ? v : 0;
}

/** Appends one flow's row to a RowBinary insert, in FLOW_COLUMNS order. */
export function writeFlowRow(w: RowBinaryWriter, row: FlowRowInput): void {
  const f = row.record;
  const src = obj(f.source);
  const dst = obj(f.destination);
  const l4 = l4Of(f);
  const eventType = obj(f.event_type);
  w.uint64(row.timeNs);
  w.uint64(row.seq);
  w.string(row.relay);
  w.string(text(f.node_name));
  w.string(text(f.uuid));
  w.uint8(uint(enumNumber(Enums.Verdict, f.verdict), 255));
  w.uint16(uint(enumNumber(Enums.DropReason, f.drop_reason_desc), 65535));
  w.uint8(uint(enumNumber(Enums.TrafficDirection, f.traffic_direction), 255));
  w.int32(typeof eventType?.type === 'number' ? eventType.type : 0);
  w.uint8(f.is_reply === true ? 1 : 0);
  w.string(text(src?.namespace));
  w.string(text(src?.pod_name));
  w.uint32(uint(src?.identity, 0xffffffff));
  w.string(text(dst?.namespace));
  w.string(text(dst?.pod_name));
  w.uint32(uint(dst?.identity, 0xffffffff));
  w.uint8(l4?.code ?? 0);
  w.uint16(uint(l4?.body.source_port, 65535));
  w.uint16(uint(l4?.body.destination_port, 65535));
  w.bytes(row.response);
}

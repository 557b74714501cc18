import type protobuf from 'protobufjs';
import { FlowType, lookupType } from './schema.js';
import { DictKind, L4, L4_NAMES, RowBits, TCP_FLAG_NAMES } from './row.js';
import { formatTimestamp, messageToJsonpb } from './jsonpb.js';
import type { FlowRecord } from './record.js';
import { flowKey } from './record.js';
import { unpackUuid } from './scan.js';
import { normalizeRecord } from './normalize.js';

/** A flow row as SQLite returns it (column names of the partition tables). */
export interface StoredRow {
  seconds: number;
  nanos: number;
  uuid: Buffer | string | null;
  verdict: number;
  drop_reason: number;
  bits: number;
  flow_type: number;
  event_type: number | null;
  event_sub: number;
  direction: number;
  obs_point: number;
  trace_reason: number;
  policy_match: number;
  auth_type: number;
  node: number | null;
  src_ep: number | null;
  dst_ep: number | null;
  src_ip: number | null;
  dst_ip: number | null;
  src_xlated: number | null;
  ip_version: number;
  l4: number;
  src_port: number | null;
  dst_port: number | null;
  tcp_flags: number | null;
  icmp_type: number | null;
  icmp_code: number | null;
  l4_other: number | null;
  ethernet: number | null;
  l7_type: number | null;
  latency_ns: number | null;
  l7_record: number | null;
  http_code: number | null;
  l7_headers: Buffer | null;
  src_names: number | null;
  dst_names: number | null;
  src_service: number | null;
  dst_service: number | null;
  summary: number | null;
  iface: number | null;
  proxy_port: number | null;
  allowed_by: number | null;
  denied_by: number | null;
  policy_log: number | null;
  node_labels: number | null;
  emitter: number | null;
  extra: Buffer | null;
}

/** Read access to the dictionaries (store/sqlite/reader.ts implements it with caches). */
export interface DictionaryLookup {
  value(kind: DictKind, id: number): Buffer;
  endpoint(id: number): Buffer;
  nodeName(id: number): string;
}

const Layer7Type = lookupType('flow.Layer7');
const Layer4Type = lookupType('flow.Layer4');
const HttpType = lookupType('flow.HTTP');
const TYPES_BY_KIND: Partial<Record<DictKind, protobuf.Type>> = {
  [DictKind.Ethernet]: lookupType('flow.Ethernet'),
  [DictKind.Service]: lookupType('flow.Service'),
  [DictKind.Interface]: lookupType('flow.NetworkInterface'),
  [DictKind.Emitter]: lookupType('flow.Emitter'),
};
const EndpointMsg = lookupType('flow.Endpoint');


function decodeAs(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
  return type.decode(bytes) as unknown as Record<string, unknown>;
}

/**
 * Rebuilds the protobufjs plain Flow of a stored row (numbers for enums, message
 * objects for sub-messages), the inverse of scanFlow.
 */
export function rowToFlowMessage(row: StoredRow, dict: DictionaryLookup): Record<string, unknown> {
  // Fields kept verbatim (tunnel, file, trace_context, ...) and repeated groups decode as partial Flows.
  const partial = (bytes: Uint8Array | null): Record<string, unknown> => (bytes ? decodeAs(FlowType, bytes) : {});
  const flow: Record<string, unknown> = { ...partial(row.extra) };
  const groups: [DictKind, number | null][] = [
    [DictKind.Names, row.src_names],
    [DictKind.Names, row.dst_names],
    [DictKind.PolicyAllowed, row.allowed_by],
    [DictKind.PolicyDenied, row.denied_by],
    [DictKind.PolicyLog, row.policy_log],
    [DictKind.NodeLabels, row.node_labels],
  ];
  for (const [kind, id] of groups) {
    if (id !== null) Object.assign(flow, ownFields(partial(dict.value(kind, id))));
  }
  flow.time = { seconds: row.seconds, nanos: row.nanos };
  if (row.uuid !== null) flow.uuid = unpackUuid(row.uuid);
  flow.verdict = row.verdict;
  if (row.bits & RowBits.DropReasonNumeric) flow.drop_reason = row.drop_reason;
  if (row.bits & RowBits.DropReasonDesc) flow.drop_reason_desc = row.drop_reason;
  flow.auth_type = row.auth_type;
  if (row.ethernet !== null) flow.ethernet = decodeKind(dict, DictKind.Ethernet, row.ethernet);
  if (row.src_ip !== null || row.dst_ip !== null || row.ip_version !== 0) {
    const ip: Record<string, unknown> = { ipVersion: row.ip_version };
    if (row.src_ip !== null) ip.source = dict.value(DictKind.Ip, row.src_ip).toString('utf8');
    if (row.dst_ip !== null) ip.destination = dict.value(DictKind.Ip, row.dst_ip).toString('utf8');
    if (row.src_xlated !== null) ip.source_xlated = dict.value(DictKind.Ip, row.src_xlated).toString('utf8');
    if (row.bits & RowBits.IpEncrypted) ip.encrypted = true;
    flow.IP = ip;
  }
  const l4 = layer4(row, dict);
  if (l4) flow.l4 = l4;
  if (row.src_ep !== null) flow.source = decodeAs(EndpointMsg, dict.endpoint(row.src_ep));
  if (row.dst_ep !== null) flow.destination = decodeAs(EndpointMsg, dict.endpoint(row.dst_ep));
  flow.Type = row.flow_type;
  if (row.node !== null) flow.node_name = dict.nodeName(row.node);
  if (row.l7_type !== null) {
    const l7: Record<string, unknown> = row.l7_record !== null ? decodeAs(Layer7Type, dict.value(DictKind.L7Record, row.l7_record)) : {};
    if (row.l7_headers !== null && l7.http) {
      (l7.http as Record<string, unknown>).headers = (decodeAs(HttpType, row.l7_headers) as { headers: unknown[] }).headers;
    }
    l7.type = row.l7_type;
    if (row.latency_ns !== null) l7.latency_ns = row.latency_ns;
    flow.l7 = l7;
  }
  if (row.bits & RowBits.LegacyReply) flow.reply = true;
  if (row.event_type !== null) flow.event_type = { type: row.event_type, sub_type: row.event_sub };
  if (row.src_service !== null) flow.source_service = decodeKind(dict, DictKind.Service, row.src_service);
  if (row.dst_service !== null) flow.destination_service = decodeKind(dict, DictKind.Service, row.dst_service);
  flow.traffic_direction = row.direction;
  flow.policy_match_type = row.policy_match;
  flow.trace_observation_point = row.obs_point;
  flow.trace_reason = row.trace_reason;
  if (row.bits & RowBits.IsReplyPresent) flow.is_reply = { value: (row.bits & RowBits.IsReplyValue) !== 0 };
  if (row.iface !== null) flow.interface = decodeKind(dict, DictKind.Interface, row.iface);
  if (row.proxy_port !== null) flow.proxy_port = row.proxy_port;
  if (row.summary !== null) flow.Summary = dict.value(DictKind.Summary, row.summary).toString('utf8');
  if (row.emitter !== null) flow.emitter = decodeKind(dict, DictKind.Emitter, row.emitter);
  return flow;
}

function ownFields(msg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg)) if (!(Array.isArray(v) && v.length === 0)) out[k] = v;
  return out;
}

function decodeKind(dict: DictionaryLookup, kind: DictKind, id: number): Record<string, unknown> {
  return decodeAs(TYPES_BY_KIND[kind]!, dict.value(kind, id));
}

function layer4(row: StoredRow, dict: DictionaryLookup): Record<string, unknown> | null {
  if (row.l4_other !== null) return decodeAs(Layer4Type, dict.value(DictKind.L4Other, row.l4_other));
  const name = L4_NAMES[row.l4];
  if (!name) return null;
  if (row.l4 === L4.ICMPv4 || row.l4 === L4.ICMPv6) return { [name]: { type: row.icmp_type, code: row.icmp_code } };
  const ports: Record<string, unknown> = { source_port: row.src_port, destination_port: row.dst_port };
  if (row.tcp_flags !== null) {
    const flags: Record<string, boolean> = {};
    TCP_FLAG_NAMES.forEach((f, i) => {
      if (row.tcp_flags! & (1 << i)) flags[f] = true;
    });
    ports.flags = flags;
  }
  return { [name]: ports };
}

/** The FlowRecord (Hubble protojson shape, normalised) of a stored row. */
export function rowToRecord(row: StoredRow, dict: DictionaryLookup): FlowRecord {
  const json = messageToJsonpb(FlowType, rowToFlowMessage(row, dict)) as FlowRecord;
  json.time = formatTimestamp(row.seconds, row.nanos);
  return normalizeRecord(json);
}

/** flowKey of a stored flow: its uuid when it has one (no decoding), else the key of its record. */
export function storedFlowKey(row: StoredRow, dict: DictionaryLookup): string {
  const uuid = row.uuid === null ? '' : unpackUuid(row.uuid);
  return uuid !== '' ? uuid : flowKey(rowToRecord(row, dict));
}

import type { DictionaryLookup, StoredRow } from './materialize.js';
import { DictKind, L4, RowBits } from './row.js';
import { unpackUuid } from './scan.js';
import { WIRE_BYTES, WireCursor } from './wire.js';
import {
  F_AUTH_TYPE, F_DESTINATION, F_DESTINATION_SERVICE, F_DIRECTION, F_DROP_REASON, F_DROP_REASON_DESC, F_EMITTER, F_ETHERNET,
  F_EVENT_TYPE, F_INTERFACE, F_IP, F_IS_REPLY, F_L4, F_L7, F_NODE_NAME, F_OBS_POINT, F_POLICY_MATCH, F_PROXY_PORT, F_REPLY,
  F_SOURCE, F_SOURCE_SERVICE, F_SUMMARY, F_TIME, F_TRACE_REASON, F_TYPE, F_UUID, F_VERDICT, L7_HTTP,
} from './flow-fields.js';
import type { WireWriter } from './wire-writer.js';

/**
 * Writes the flow.Flow of a stored row straight to protobuf wire format: the
 * inverse of scanFlow at the byte level. Interned sub-messages and field groups
 * are the relay's own bytes, so they are copied, not decoded and re-encoded;
 * what the row keeps as numbers is written as Go's marshaller would (zero
 * scalars left out). Decoding the result gives the flow the relay sent (the
 * one caveat of the row format applies: a flow carrying both drop_reason and
 * drop_reason_desc with different values reads back with the desc value in both).
 */
export function writeFlowRow(w: WireWriter, row: StoredRow, dict: DictionaryLookup): void {
  w.message(F_TIME, () => {
    w.uint(1, row.seconds);
    w.uint(2, row.nanos);
  });
  w.uint(F_VERDICT, row.verdict);
  if (row.bits & RowBits.DropReasonNumeric) w.uint(F_DROP_REASON, row.drop_reason);
  if (row.ethernet !== null) w.bytes(F_ETHERNET, dict.value(DictKind.Ethernet, row.ethernet));
  if (row.src_ip !== null || row.dst_ip !== null || row.ip_version !== 0) writeIp(w, row, dict);
  writeLayer4(w, row, dict);
  if (row.src_ep !== null) w.bytes(F_SOURCE, dict.endpoint(row.src_ep));
  if (row.dst_ep !== null) w.bytes(F_DESTINATION, dict.endpoint(row.dst_ep));
  w.uint(F_TYPE, row.flow_type);
  if (row.node !== null) w.string(F_NODE_NAME, dict.nodeName(row.node));
  // Repeated-field groups are stored with their tags: they are appended as they are.
  if (row.src_names !== null) w.raw(dict.value(DictKind.Names, row.src_names));
  if (row.dst_names !== null) w.raw(dict.value(DictKind.Names, row.dst_names));
  if (row.l7_type !== null) writeLayer7(w, row, dict);
  if (row.bits & RowBits.LegacyReply) w.uint(F_REPLY, 1);
  if (row.event_type !== null) {
    w.message(F_EVENT_TYPE, () => {
      w.uint(1, row.event_type);
      w.uint(2, row.event_sub);
    });
  }
  if (row.src_service !== null) w.bytes(F_SOURCE_SERVICE, dict.value(DictKind.Service, row.src_service));
  if (row.dst_service !== null) w.bytes(F_DESTINATION_SERVICE, dict.value(DictKind.Service, row.dst_service));
  w.uint(F_DIRECTION, row.direction);
  w.uint(F_POLICY_MATCH, row.policy_match);
  w.uint(F_OBS_POINT, row.obs_point);
  if (row.bits & RowBits.DropReasonDesc) w.uint(F_DROP_REASON_DESC, row.drop_reason);
  if (row.bits & RowBits.IsReplyPresent) w.message(F_IS_REPLY, () => w.uint(1, row.bits & RowBits.IsReplyValue ? 1 : 0));
  if (row.iface !== null) w.bytes(F_INTERFACE, dict.value(DictKind.Interface, row.iface));
  if (row.proxy_port !== null) w.uint(F_PROXY_PORT, row.proxy_port);
  if (row.uuid !== null) w.string(F_UUID, unpackUuid(row.uuid));
  w.uint(F_AUTH_TYPE, row.auth_type);
  w.uint(F_TRACE_REASON, row.trace_reason);
  if (row.node_labels !== null) w.raw(dict.value(DictKind.NodeLabels, row.node_labels));
  if (row.emitter !== null) w.bytes(F_EMITTER, dict.value(DictKind.Emitter, row.emitter));
  if (row.extra !== null) w.raw(row.extra);
  if (row.summary !== null) w.bytes(F_SUMMARY, dict.value(DictKind.Summary, row.summary));
  if (row.allowed_by !== null) w.raw(dict.value(DictKind.PolicyAllowed, row.allowed_by));
  if (row.denied_by !== null) w.raw(dict.value(DictKind.PolicyDenied, row.denied_by));
  if (row.policy_log !== null) w.raw(dict.value(DictKind.PolicyLog, row.policy_log));
}

function writeIp(w: WireWriter, row: StoredRow, dict: DictionaryLookup): void {
  w.message(F_IP, () => {
    if (row.src_ip !== null) w.bytes(1, dict.value(DictKind.Ip, row.src_ip));
    if (row.dst_ip !== null) w.bytes(2, dict.value(DictKind.Ip, row.dst_ip));
    w.uint(3, row.ip_version);
    if (row.bits & RowBits.IpEncrypted) w.uint(4, 1);
    if (row.src_xlated !== null) w.bytes(5, dict.value(DictKind.Ip, row.src_xlated));
  });
}

function writeLayer4(w: WireWriter, row: StoredRow, dict: DictionaryLookup): void {
  if (row.l4_other !== null) {
    w.bytes(F_L4, dict.value(DictKind.L4Other, row.l4_other));
    return;
  }
  const protocol = row.l4;
  if (protocol === L4.None) return;
  w.message(F_L4, () =>
    w.message(protocol, () => {
      if (protocol === L4.ICMPv4 || protocol === L4.ICMPv6) {
        w.uint(1, row.icmp_type);
        w.uint(2, row.icmp_code);
        return;
      }
      w.uint(1, row.src_port);
      w.uint(2, row.dst_port);
      if (row.tcp_flags !== null) {
        w.message(3, () => {
          for (let bit = 0; bit < 9; bit++) if (row.tcp_flags! & (1 << bit)) w.uint(bit + 1, 1);
        });
      }
    }),
  );
}

const L7_HTTP_TAG = L7_HTTP * 8 + WIRE_BYTES;

function writeLayer7(w: WireWriter, row: StoredRow, dict: DictionaryLookup): void {
  w.message(F_L7, () => {
    w.uint(1, row.l7_type);
    w.uint(2, row.latency_ns);
    if (row.l7_record === null) return;
    const record = dict.value(DictKind.L7Record, row.l7_record);
    if (row.l7_headers === null) {
      w.raw(record);
      return;
    }
    // An HTTP record is stored without its headers (they are per request): put them back.
    const c = new WireCursor(record, 0, record.length);
    if (c.tag() !== L7_HTTP_TAG) {
      w.raw(record);
      return;
    }
    const end = c.delimited();
    const body = record.subarray(c.pos, end);
    w.message(L7_HTTP, () => {
      w.raw(body);
      w.raw(row.l7_headers!);
    });
  });
}

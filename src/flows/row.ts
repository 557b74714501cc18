/**
 * FlowRow: the compact, interned form of one flow as the store keeps it. Every
 * repeated string or sub-message is a dictionary id; numbers stay numbers. A
 * FlowRow plus the dictionaries rebuilds the full FlowRecord (see materialize.ts).
 */

/** Dictionary kinds for interned raw sub-message bytes (values are stable: they are stored). */
export const DictKind = {
  Ip: 1,
  Ethernet: 2,
  L7Record: 3,
  Names: 4,
  Service: 5,
  Summary: 6,
  Interface: 7,
  PolicyAllowed: 8,
  PolicyDenied: 9,
  PolicyLog: 10,
  NodeLabels: 11,
  Emitter: 12,
  L4Other: 13,
} as const;
export type DictKind = (typeof DictKind)[keyof typeof DictKind];

/** Bits of FlowRow.bits: presence and value of the deprecated/optional booleans. */
export const RowBits = {
  IsReplyPresent: 1,
  IsReplyValue: 2,
  LegacyReply: 4,
  DropReasonNumeric: 8,
  DropReasonDesc: 16,
  IpEncrypted: 32,
} as const;

/** Layer-4 protocol codes (the Layer4 oneof field numbers). */
export const L4 = { None: 0, TCP: 1, UDP: 2, ICMPv4: 3, ICMPv6: 4, SCTP: 5, VRRP: 6, IGMP: 7 } as const;

/** Layer4 oneof key (as JSON prints it) by protocol code. */
export const L4_NAMES: Record<number, string> = { [L4.TCP]: 'TCP', [L4.UDP]: 'UDP', [L4.ICMPv4]: 'ICMPv4', [L4.ICMPv6]: 'ICMPv6', [L4.SCTP]: 'SCTP', [L4.VRRP]: 'VRRP', [L4.IGMP]: 'IGMP' };

/** TCPFlags fields in field-number order: bit i of FlowRow.tcpFlags is TCP_FLAG_NAMES[i]. */
export const TCP_FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'] as const;

/** Trace event sub-types (datapath observation points) by their `hubble observe -t trace:…` names. */
export const TRACE_POINT_NAMES = [
  'to-endpoint', 'to-proxy', 'to-host', 'to-stack', 'to-overlay', 'from-endpoint', 'from-proxy', 'from-host', 'from-stack',
  'from-overlay', 'from-network', 'to-network', 'from-crypto', 'to-crypto',
] as const;

/** Reserved security identities by number (Endpoint.identity). */
export const RESERVED_IDENTITY_NAMES: Record<number, string> = {
  0: 'unknown', 1: 'host', 2: 'world', 3: 'unmanaged', 4: 'health', 5: 'init', 6: 'remote-node', 7: 'kube-apiserver', 8: 'ingress',
  9: 'world-ipv4', 10: 'world-ipv6', 11: 'encrypted-overlay',
};

/** Monitor event types (CiliumEventType.type) by the names `hubble observe -t` uses. */
export const EVENT_TYPE_NAMES: Record<number, string> = { 1: 'drop', 2: 'debug', 3: 'capture', 4: 'trace', 5: 'policy-verdict', 6: 'recorder', 7: 'trace-sock', 129: 'l7', 130: 'agent' };

export class FlowRow {
  seconds = 0;
  nanos = 0;
  uuid: Buffer | string | null = null;
  verdict = 0;
  dropReason = 0;
  bits = 0;
  flowType = 0;
  eventType: number | null = null;
  eventSubType = 0;
  direction = 0;
  obsPoint = 0;
  traceReason = 0;
  policyMatch = 0;
  authType = 0;
  node: number | null = null;
  cluster = 0;
  srcEp: number | null = null;
  dstEp: number | null = null;
  srcWorkload = 0;
  dstWorkload = 0;
  /** Label set ids (label_sets) of the endpoints; 0 when absent. */
  srcLabels = 0;
  dstLabels = 0;
  srcIp: number | null = null;
  dstIp: number | null = null;
  srcXlated: number | null = null;
  ipVersion = 0;
  l4 = 0;
  srcPort: number | null = null;
  dstPort: number | null = null;
  tcpFlags: number | null = null;
  icmpType: number | null = null;
  icmpCode: number | null = null;
  l4Other: number | null = null;
  ethernet: number | null = null;
  l7Type: number | null = null;
  latencyNs: number | null = null;
  l7Record: number | null = null;
  httpCode: number | null = null;
  /** Raw HTTP header fields (HTTP field 5 entries), kept per row. */
  l7Headers: Buffer | null = null;
  srcNames: number | null = null;
  dstNames: number | null = null;
  srcService: number | null = null;
  dstService: number | null = null;
  summary: number | null = null;
  iface: number | null = null;
  proxyPort: number | null = null;
  allowedBy: number | null = null;
  deniedBy: number | null = null;
  policyLog: number | null = null;
  nodeLabels: number | null = null;
  emitter: number | null = null;
  extra: Buffer | null = null;
}

import { DictKind, FlowRow, L4, RowBits } from './row.js';
import { WireCursor, WireError, WIRE_BYTES, readTimestamp } from './wire.js';
import { FlowType } from './schema.js';
import {
  F_AUTH_TYPE, F_DESTINATION, F_DESTINATION_NAMES, F_DESTINATION_SERVICE, F_DIRECTION, F_DROP_REASON, F_DROP_REASON_DESC,
  F_EGRESS_ALLOWED, F_EGRESS_DENIED, F_EMITTER, F_ETHERNET, F_EVENT_TYPE, F_INGRESS_ALLOWED, F_INGRESS_DENIED, F_INTERFACE,
  F_IP, F_IS_REPLY, F_L4, F_L7, F_NODE_LABELS, F_NODE_NAME, F_OBS_POINT, F_POLICY_LOG, F_POLICY_MATCH, F_PROXY_PORT, F_REPLY,
  F_SOURCE, F_SOURCE_NAMES, F_SOURCE_SERVICE, F_SUMMARY, F_TIME, F_TRACE_REASON, F_TYPE, F_UUID, F_VERDICT, HTTP_HEADERS, L7_HTTP,
} from './flow-fields.js';

/** What the scanner needs from the store: ids for raw bytes it has seen before. */
export interface Interner {
  /** Id of the raw bytes buf[start,end) in dictionary `kind`. */
  intern(kind: DictKind, buf: Buffer, start: number, end: number): number;
  /** Endpoint id, its workload id and its label set id for a raw Endpoint message. */
  endpoint(buf: Buffer, start: number, end: number): { id: number; workload: number; labelSet: number };
  /** Node id and its cluster id for a node name. */
  node(buf: Buffer, start: number, end: number): { id: number; cluster: number };
}

/** 9999-12-31T23:59:59Z, the largest valid google.protobuf.Timestamp. */
const MAX_TIMESTAMP_SECONDS = 253_402_300_799;

/** Whether a flow's time can be stored: google.protobuf.Timestamp's valid range (0001..9999), and not before 1970 (no flow is). */
export function flowTimeInRange(seconds: number, nanos: number): boolean {
  return seconds >= 0 && seconds <= MAX_TIMESTAMP_SECONDS && nanos >= 0 && nanos <= 999_999_999;
}

/**
 * Raw byte ranges of a repeated field (or a group of them), tags included, so the
 * group can be interned as one value. Go marshals fields in number order, so a
 * group is normally one contiguous slice; otherwise the pieces are concatenated.
 */
class RangeGroup {
  start = -1;
  end = -1;
  pieces: Buffer[] | null = null;

  add(buf: Buffer, start: number, end: number): void {
    if (this.start < 0) {
      this.start = start;
      this.end = end;
    } else if (start === this.end && this.pieces === null) {
      this.end = end;
    } else {
      this.pieces ??= [buf.subarray(this.start, this.end)];
      this.pieces.push(buf.subarray(start, end));
    }
  }

  intern(interner: Interner, kind: DictKind, buf: Buffer): number | null {
    if (this.start < 0) return null;
    if (this.pieces === null) return interner.intern(kind, buf, this.start, this.end);
    const joined = Buffer.concat(this.pieces);
    return interner.intern(kind, joined, 0, joined.length);
  }
}

/**
 * Scans one encoded flow.Flow into a FlowRow. Throws WireError on malformed
 * bytes; the caller counts and skips such messages.
 */
export function scanFlow(buf: Buffer, start: number, end: number, interner: Interner): FlowRow {
  const row = new FlowRow();
  const c = new WireCursor(buf, start, end);
  const srcNames = new RangeGroup();
  const dstNames = new RangeGroup();
  const allowed = new RangeGroup();
  const denied = new RangeGroup();
  const policyLog = new RangeGroup();
  const nodeLabels = new RangeGroup();
  const extra = new RangeGroup();
  let sawTime = false;

  while (!c.done) {
    const fieldStart = c.pos;
    const tag = c.tag();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === WIRE_BYTES) {
      const vEnd = c.delimited();
      const vStart = c.pos;
      c.pos = vEnd;
      switch (field) {
        case F_TIME: {
          const ts = readTimestamp(buf, vStart, vEnd);
          row.seconds = ts.seconds;
          row.nanos = ts.nanos;
          sawTime = true;
          break;
        }
        case F_UUID:
          row.uuid = packUuid(buf, vStart, vEnd);
          break;
        case F_ETHERNET:
          row.ethernet = interner.intern(DictKind.Ethernet, buf, vStart, vEnd);
          break;
        case F_IP:
          scanIp(buf, vStart, vEnd, row, interner);
          break;
        case F_L4:
          scanL4(buf, vStart, vEnd, row, interner);
          break;
        case F_SOURCE: {
          const ep = interner.endpoint(buf, vStart, vEnd);
          row.srcEp = ep.id;
          row.srcWorkload = ep.workload;
          row.srcLabels = ep.labelSet;
          break;
        }
        case F_DESTINATION: {
          const ep = interner.endpoint(buf, vStart, vEnd);
          row.dstEp = ep.id;
          row.dstWorkload = ep.workload;
          row.dstLabels = ep.labelSet;
          break;
        }
        case F_NODE_NAME: {
          const node = interner.node(buf, vStart, vEnd);
          row.node = node.id;
          row.cluster = node.cluster;
          break;
        }
        case F_SOURCE_NAMES:
          srcNames.add(buf, fieldStart, vEnd);
          break;
        case F_DESTINATION_NAMES:
          dstNames.add(buf, fieldStart, vEnd);
          break;
        case F_L7:
          scanL7(buf, vStart, vEnd, row, interner);
          break;
        case F_EVENT_TYPE:
          scanEventType(buf, vStart, vEnd, row);
          break;
        case F_SOURCE_SERVICE:
          row.srcService = interner.intern(DictKind.Service, buf, vStart, vEnd);
          break;
        case F_DESTINATION_SERVICE:
          row.dstService = interner.intern(DictKind.Service, buf, vStart, vEnd);
          break;
        case F_IS_REPLY:
          row.bits |= RowBits.IsReplyPresent;
          if (readBoolValue(buf, vStart, vEnd)) row.bits |= RowBits.IsReplyValue;
          break;
        case F_INTERFACE:
          row.iface = interner.intern(DictKind.Interface, buf, vStart, vEnd);
          break;
        case F_NODE_LABELS:
          nodeLabels.add(buf, fieldStart, vEnd);
          break;
        case F_EMITTER:
          row.emitter = interner.intern(DictKind.Emitter, buf, vStart, vEnd);
          break;
        case F_SUMMARY:
          row.summary = interner.intern(DictKind.Summary, buf, vStart, vEnd);
          break;
        case F_EGRESS_ALLOWED:
        case F_INGRESS_ALLOWED:
          allowed.add(buf, fieldStart, vEnd);
          break;
        case F_EGRESS_DENIED:
        case F_INGRESS_DENIED:
          denied.add(buf, fieldStart, vEnd);
          break;
        case F_POLICY_LOG:
          policyLog.add(buf, fieldStart, vEnd);
          break;
        default:
          extra.add(buf, fieldStart, vEnd);
      }
      continue;
    }
    if (wire !== 0) {
      c.skip(wire);
      extra.add(buf, fieldStart, c.pos);
      continue;
    }
    const v = c.varint();
    switch (field) {
      case F_VERDICT:
        row.verdict = v;
        break;
      case F_DROP_REASON:
        row.bits |= RowBits.DropReasonNumeric;
        if (row.dropReason === 0) row.dropReason = v;
        break;
      case F_DROP_REASON_DESC:
        row.bits |= RowBits.DropReasonDesc;
        row.dropReason = v;
        break;
      case F_TYPE:
        row.flowType = v;
        break;
      case F_REPLY:
        if (v !== 0) row.bits |= RowBits.LegacyReply;
        break;
      case F_DIRECTION:
        row.direction = v;
        break;
      case F_POLICY_MATCH:
        row.policyMatch = v;
        break;
      case F_OBS_POINT:
        row.obsPoint = v;
        break;
      case F_TRACE_REASON:
        row.traceReason = v;
        break;
      case F_AUTH_TYPE:
        row.authType = v;
        break;
      case F_PROXY_PORT:
        row.proxyPort = v;
        break;
      default:
        extra.add(buf, fieldStart, c.pos);
    }
  }
  if (!sawTime) throw new WireError('flow has no time');
  if (!flowTimeInRange(row.seconds, row.nanos)) throw new WireError(`flow time out of range (${row.seconds}s ${row.nanos}ns)`);
  row.srcNames = srcNames.intern(interner, DictKind.Names, buf);
  row.dstNames = dstNames.intern(interner, DictKind.Names, buf);
  row.allowedBy = allowed.intern(interner, DictKind.PolicyAllowed, buf);
  row.deniedBy = denied.intern(interner, DictKind.PolicyDenied, buf);
  row.policyLog = policyLog.intern(interner, DictKind.PolicyLog, buf);
  row.nodeLabels = nodeLabels.intern(interner, DictKind.NodeLabels, buf);
  if (extra.start >= 0) {
    row.extra = extra.pieces ? Buffer.concat(extra.pieces) : Buffer.from(buf.subarray(extra.start, extra.end));
    // Kept verbatim, decoded only when read: check now, so one bad message never fails a page of results.
    try {
      FlowType.decode(row.extra);
    } catch (err) {
      throw new WireError(`unreadable field kept verbatim: ${(err as Error).message}`);
    }
  }
  return row;
}

function scanIp(buf: Buffer, start: number, end: number, row: FlowRow, interner: Interner): void {
  const c = new WireCursor(buf, start, end);
  while (!c.done) {
    const tag = c.tag();
    switch (tag) {
      case 0x0a: { // source
        const e = c.delimited();
        row.srcIp = interner.intern(DictKind.Ip, buf, c.pos, e);
        c.pos = e;
        break;
      }
      case 0x12: { // destination
        const e = c.delimited();
        row.dstIp = interner.intern(DictKind.Ip, buf, c.pos, e);
        c.pos = e;
        break;
      }
      case 0x2a: { // source_xlated
        const e = c.delimited();
        row.srcXlated = interner.intern(DictKind.Ip, buf, c.pos, e);
        c.pos = e;
        break;
      }
      case 0x18:
        row.ipVersion = c.varint();
        break;
      case 0x20:
        if (c.varint() !== 0) row.bits |= RowBits.IpEncrypted;
        break;
      default:
        c.skip(tag & 7);
    }
  }
}

function scanL4(buf: Buffer, start: number, end: number, row: FlowRow, interner: Interner): void {
  const c = new WireCursor(buf, start, end);
  while (!c.done) {
    const tag = c.tag();
    const field = tag >>> 3;
    if ((tag & 7) !== WIRE_BYTES) {
      c.skip(tag & 7);
      continue;
    }
    const e = c.delimited();
    row.l4 = field;
    if (field === L4.TCP || field === L4.UDP || field === L4.SCTP) {
      scanPorts(buf, c.pos, e, row);
    } else if (field === L4.ICMPv4 || field === L4.ICMPv6) {
      scanIcmp(buf, c.pos, e, row);
    } else {
      row.l4Other = interner.intern(DictKind.L4Other, buf, start, end);
    }
    c.pos = e;
  }
}

function scanPorts(buf: Buffer, start: number, end: number, row: FlowRow): void {
  const c = new WireCursor(buf, start, end);
  row.srcPort = 0;
  row.dstPort = 0;
  while (!c.done) {
    const tag = c.tag();
    if (tag === 0x08) row.srcPort = c.varint();
    else if (tag === 0x10) row.dstPort = c.varint();
    else if (tag === 0x1a) {
      const e = c.delimited();
      row.tcpFlags = scanTcpFlags(buf, c.pos, e);
      c.pos = e;
    } else c.skip(tag & 7);
  }
}

/** TCP flags as a bitmask: bit (n-1) for TCPFlags field n (FIN=1 … NS=9). */
function scanTcpFlags(buf: Buffer, start: number, end: number): number {
  const c = new WireCursor(buf, start, end);
  let mask = 0;
  while (!c.done) {
    const tag = c.tag();
    const field = tag >>> 3;
    if ((tag & 7) === 0 && field >= 1 && field <= 9) {
      if (c.varint() !== 0) mask |= 1 << (field - 1);
    } else c.skip(tag & 7);
  }
  return mask;
}

function scanIcmp(buf: Buffer, start: number, end: number, row: FlowRow): void {
  const c = new WireCursor(buf, start, end);
  row.icmpType = 0;
  row.icmpCode = 0;
  while (!c.done) {
    const tag = c.tag();
    if (tag === 0x08) row.icmpType = c.varint();
    else if (tag === 0x10) row.icmpCode = c.varint();
    else c.skip(tag & 7);
  }
}

function scanL7(buf: Buffer, start: number, end: number, row: FlowRow, interner: Interner): void {
  const c = new WireCursor(buf, start, end);
  row.l7Type = 0;
  while (!c.done) {
    const recordStart = c.pos;
    const tag = c.tag();
    if (tag === 0x08) row.l7Type = c.varint();
    else if (tag === 0x10) row.latencyNs = c.varint();
    else if ((tag & 7) === WIRE_BYTES) {
      const e = c.delimited();
      if (tag >>> 3 === L7_HTTP) {
        scanHttp(buf, recordStart, c.pos, e, row, interner);
      } else {
        // The record keeps its tag so dns (100) and kafka (102) stay apart.
        row.l7Record = interner.intern(DictKind.L7Record, buf, recordStart, e);
      }
      c.pos = e;
    } else c.skip(tag & 7);
  }
}


/**
 * HTTP records are interned without their headers: headers carry per-request
 * values (request ids, trace parents) that would make every record unique, so
 * they are kept with the row instead.
 */
function scanHttp(buf: Buffer, recordStart: number, start: number, end: number, row: FlowRow, interner: Interner): void {
  const c = new WireCursor(buf, start, end);
  const kept: Buffer[] = [];
  const headers: Buffer[] = [];
  let keptStart = start;
  while (!c.done) {
    const fieldStart = c.pos;
    const tag = c.tag();
    if (tag === 0x08) {
      row.httpCode = c.varint();
      continue;
    }
    c.skip(tag & 7);
    if (tag >>> 3 === HTTP_HEADERS) {
      if (fieldStart > keptStart) kept.push(buf.subarray(keptStart, fieldStart));
      headers.push(buf.subarray(fieldStart, c.pos));
      keptStart = c.pos;
    }
  }
  row.httpCode ??= 0;
  if (headers.length === 0) {
    row.l7Record = interner.intern(DictKind.L7Record, buf, recordStart, end);
    return;
  }
  if (end > keptStart) kept.push(buf.subarray(keptStart, end));
  const body = Buffer.concat(kept);
  const record = Buffer.concat([Buffer.from([0xaa, 0x06]), encodeVarint(body.length), body]);
  row.l7Record = interner.intern(DictKind.L7Record, record, 0, record.length);
  row.l7Headers = Buffer.concat(headers);
}

function encodeVarint(n: number): Buffer {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

function scanEventType(buf: Buffer, start: number, end: number, row: FlowRow): void {
  const c = new WireCursor(buf, start, end);
  row.eventType = 0;
  while (!c.done) {
    const tag = c.tag();
    if (tag === 0x08) row.eventType = c.int32();
    else if (tag === 0x10) row.eventSubType = c.int32();
    else c.skip(tag & 7);
  }
}

function readBoolValue(buf: Buffer, start: number, end: number): boolean {
  const c = new WireCursor(buf, start, end);
  let value = false;
  while (!c.done) {
    const tag = c.tag();
    if (tag === 0x08) value = c.varint() !== 0;
    else c.skip(tag & 7);
  }
  return value;
}

const UUID_DASHES = [8, 13, 18, 23];

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

/**
 * A canonical lower-case uuid (8-4-4-4-12 hex) is kept as 16 bytes; anything else
 * is kept verbatim as text so it reads back exactly as sent.
 */
export function packUuid(buf: Buffer, start: number, end: number): Buffer | string {
  if (end - start === 36) {
    const out = Buffer.allocUnsafe(16);
    let o = 0;
    let ok = true;
    for (let i = 0; i < 36 && ok; i++) {
      if (i === UUID_DASHES[0] || i === UUID_DASHES[1] || i === UUID_DASHES[2] || i === UUID_DASHES[3]) {
        ok = buf[start + i] === 45;
        continue;
      }
      const hi = hexNibble(buf[start + i]);
      const lo = hexNibble(buf[start + i + 1]);
      ok = hi >= 0 && lo >= 0;
      out[o++] = (hi << 4) | lo;
      i++;
    }
    if (ok) return out;
  }
  return buf.toString('utf8', start, end);
}

/** Inverse of packUuid. */
export function unpackUuid(stored: Buffer | string): string {
  return typeof stored === 'string' ? stored : uuidFromHex(stored.toString('hex'));
}

/** The canonical uuid text of 32 lower-case hex digits (a packed uuid). */
export function uuidFromHex(h: string): string {
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

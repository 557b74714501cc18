import { RowBits } from '../flows/row.js';
import type { FlowRow } from '../flows/row.js';
import type { StoredRow } from '../flows/materialize.js';

/** What a policy can tell apart in a flow: the row fields a class key is made of. */
export type ClassFields = Pick<
  FlowRow,
  'verdict' | 'dropReason' | 'eventType' | 'direction' | 'bits' | 'l4' | 'l7Type' | 'icmpType' | 'srcPort' | 'dstPort' | 'l7Record'
  | 'srcEp' | 'dstEp' | 'srcIp' | 'dstIp' | 'srcNames' | 'dstNames' | 'srcService' | 'dstService' | 'l7Headers'
>;

const REPLY = RowBits.IsReplyPresent | RowBits.IsReplyValue;

/**
 * The class key of a flow: verdict, drop reason, event type, direction, reply
 * flag, protocol, L7 type, ICMP type, the service port (the source port of a
 * reply), the L7 record, both endpoints, addresses, DNS names and services, and
 * the HTTP headers when a rule looks at them. Flows with the same key are
 * judged alike by any policy. Ids are the store's (or one scan's) dictionary
 * ids; an absent value prints as `null`, so it never equals 0.
 */
export function classKeyOf(r: ClassFields, withHeaders: boolean): string {
  return `${r.verdict},${r.dropReason},${r.eventType},${r.direction},${r.bits & REPLY},${r.l4},${r.l7Type},${r.icmpType},${servicePort(r)},${r.l7Record},`
    + `${r.srcEp},${r.dstEp},${r.srcIp},${r.dstIp},${r.srcNames},${r.dstNames},${r.srcService},${r.dstService}${withHeaders && r.l7Headers ? `,${r.l7Headers.toString('hex')}` : ''}`;
}

/** The service port a class keys on: the source port of a reply, else the destination port. */
function servicePort(r: ClassFields): number | null {
  return (r.bits & REPLY) === REPLY ? r.srcPort : r.dstPort;
}

const mix = (h: number, v: number | null): number => Math.imul(h ^ (v === null ? -1 : v), 0x01000193);

/** A 32-bit hash of what classKeyOf prints without headers (cheaper than the key; equal keys hash equal). */
export function classHash(r: ClassFields): number {
  let h = 0x811c9dc5;
  h = mix(h, r.verdict); h = mix(h, r.dropReason); h = mix(h, r.eventType); h = mix(h, r.direction); h = mix(h, r.bits & REPLY);
  h = mix(h, r.l4); h = mix(h, r.l7Type); h = mix(h, r.icmpType); h = mix(h, servicePort(r)); h = mix(h, r.l7Record);
  h = mix(h, r.srcEp); h = mix(h, r.dstEp); h = mix(h, r.srcIp); h = mix(h, r.dstIp);
  h = mix(h, r.srcNames); h = mix(h, r.dstNames); h = mix(h, r.srcService); h = mix(h, r.dstService);
  return h;
}

/** Whether two flows have the same class key without headers. */
export function sameClass(a: ClassFields, b: ClassFields): boolean {
  return a.verdict === b.verdict && a.dropReason === b.dropReason && a.eventType === b.eventType && a.direction === b.direction
    && (a.bits & REPLY) === (b.bits & REPLY) && a.l4 === b.l4 && a.l7Type === b.l7Type && a.icmpType === b.icmpType
    && servicePort(a) === servicePort(b) && a.l7Record === b.l7Record && a.srcEp === b.srcEp && a.dstEp === b.dstEp
    && a.srcIp === b.srcIp && a.dstIp === b.dstIp && a.srcNames === b.srcNames && a.dstNames === b.dstNames
    && a.srcService === b.srcService && a.dstService === b.dstService;
}

/** A copy of the fields classKeyOf reads (headers left out: written classes never key on them). */
export function classFieldsOf(r: ClassFields): ClassFields {
  return {
    verdict: r.verdict, dropReason: r.dropReason, eventType: r.eventType, direction: r.direction, bits: r.bits, l4: r.l4, l7Type: r.l7Type,
    icmpType: r.icmpType, srcPort: r.srcPort, dstPort: r.dstPort, l7Record: r.l7Record, srcEp: r.srcEp, dstEp: r.dstEp, srcIp: r.srcIp,
    dstIp: r.dstIp, srcNames: r.srcNames, dstNames: r.dstNames, srcService: r.srcService, dstService: r.dstService, l7Headers: null,
  };
}

/** A stored row (as row scans read it) as the fields classKeyOf reads. */
export function classFieldsOfStored(r: StoredRow): ClassFields {
  return {
    verdict: r.verdict, dropReason: r.drop_reason, eventType: r.event_type, direction: r.direction, bits: r.bits, l4: r.l4,
    l7Type: r.l7_type, icmpType: r.icmp_type, srcPort: r.src_port, dstPort: r.dst_port, l7Record: r.l7_record, srcEp: r.src_ep,
    dstEp: r.dst_ep, srcIp: r.src_ip, dstIp: r.dst_ip, srcNames: r.src_names, dstNames: r.dst_names, srcService: r.src_service,
    dstService: r.dst_service, l7Headers: r.l7_headers,
  };
}

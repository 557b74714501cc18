import { hashBytes } from '../../flows/byte-key-cache.js';
import { RowBits } from '../../flows/row.js';
import type { ClassFields } from '../class-key.js';
import type { DictKind } from '../../flows/row.js';

/**
 * The class_hash column (migration 006): 64 bits standing for a flow's class
 * key without headers (classKeyOf), computed from the bytes of the values the
 * key names, so every writer gives one class the same hash (unlike dictionary
 * ids, which are a writer's own). Policy replay groups by it inside ClickHouse
 * (flow-classes.ts) instead of reading every flow. Two lanes of MurmurHash3's
 * mix with different seeds make the 64 bits; 0 is left to rows stored before
 * the column existed.
 */

/** A value the class key names by its bytes: an endpoint, address, names, service or L7 record. */
export interface ValueHash {
  a: number;
  b: number;
}

const SEED_A = 0x3c6ef372;
const SEED_B = 0x5be0cd19;
/** The kind endpoints are keyed under, beside the dictionary kinds: in the class hash, and in ClassInterner's keys. */
export const ENDPOINT_KIND = 100 as DictKind;

/** The two 32-bit hashes of a value's bytes in dictionary `kind`. */
export function valueHash(kind: number, buf: Buffer, start: number, end: number): ValueHash {
  return { a: hashBytes(buf, start, end, SEED_A ^ kind), b: hashBytes(buf, start, end, SEED_B ^ Math.imul(kind, 0x9e3779b9)) };
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mix(h: number, v: number): number {
  let k = Math.imul(v, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number, words: number): number {
  h ^= words;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const REPLY = RowBits.IsReplyPresent | RowBits.IsReplyValue;
/** Stands for an absent number or value (a present one is mixed with a marker first, so none can equal it). */
const ABSENT = 0x7f4a7c15;
const PRESENT = 0x2545f491;

/**
 * The class hash of a flow's class fields: `value(id)` gives the hashes of the
 * value an id field (l7Record, addresses, names, services) stands for, and
 * `endpoint(id)` those of an endpoint.
 */
export function classHash(r: ClassFields, value: (id: number) => ValueHash, endpoint: (id: number) => ValueHash): bigint {
  let a = SEED_A;
  let b = SEED_B;
  let words = 0;
  const num = (v: number | null): void => {
    if (v === null) {
      a = mix(a, ABSENT);
      b = mix(b, ABSENT);
    } else {
      a = mix(mix(a, PRESENT), v);
      b = mix(mix(b, PRESENT), v);
    }
    words += 2;
  };
  const val = (id: number | null, of = value): void => {
    if (id === null) {
      a = mix(a, ABSENT);
      b = mix(b, ABSENT);
    } else {
      const h = of(id);
      a = mix(mix(a, PRESENT), h.a);
      b = mix(mix(b, PRESENT), h.b);
    }
    words += 2;
  };
  const reply = (r.bits & REPLY) === REPLY;
  num(r.verdict); num(r.dropReason); num(r.eventType); num(r.direction); num(r.bits & REPLY); num(r.l4); num(r.l7Type); num(r.icmpType);
  num(reply ? r.srcPort : r.dstPort);
  val(r.l7Record); val(r.srcEp, endpoint); val(r.dstEp, endpoint); val(r.srcIp); val(r.dstIp); val(r.srcNames); val(r.dstNames); val(r.srcService); val(r.dstService);
  const hash = (BigInt(finish(b, words)) << 32n) | BigInt(finish(a, words));
  return hash === 0n ? 1n : hash;
}

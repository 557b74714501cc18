/**
 * The flows table narrows uuid lookups by a 16-bit hash of the uuid text, not
 * by the text itself: a random uuid costs ~19 B per flow in a column (it is
 * stored in the response already), the hash 2 B, and a lookup reads 2 B per
 * row instead of 36. The hash only narrows: 1 row in 65,536 matches by chance,
 * and every row read is judged by the filter itself.
 *
 * It is the low 16 bits of MurmurHash2 (32-bit, seed 0) over the text's UTF-8
 * bytes, which is what ClickHouse's murmurHash2_32 computes, so rows written
 * before the column existed get it from its DEFAULT (migration 003) and both
 * sides agree (tested against a real server).
 */
export const UUID_HASH_SQL = 'bitAnd(murmurHash2_32(uuid), 65535)';

const M = 0x5bd1e995;

function murmurHash2(bytes: Uint8Array): number {
  let len = bytes.length;
  let h = len >>> 0;
  let i = 0;
  while (len >= 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
    i += 4;
    len -= 4;
  }
  if (len > 0) {
    if (len === 3) h ^= bytes[i + 2] << 16;
    if (len >= 2) h ^= bytes[i + 1] << 8;
    h ^= bytes[i];
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h >>> 0;
}

/** Where the writer's uuids are encoded (one per flow: no allocation for the usual 36 characters). */
const scratch = Buffer.allocUnsafe(128);

/** The uuid_hash of a flow's uuid text ('' for a flow without one). */
export function uuidHash(uuid: string): number {
  const bytes = uuid.length * 3 <= scratch.length ? scratch.subarray(0, scratch.write(uuid, 0, 'utf8')) : Buffer.from(uuid, 'utf8');
  return murmurHash2(bytes) & 0xffff;
}

/**
 * A bounded cache keyed by byte ranges, without building a string per lookup:
 * the key is hashed from its length and its first and last 16 bytes (where
 * interned sub-messages differ: endpoint ids lead, names trail), and a hit is
 * confirmed by comparing all bytes.
 */
const SAMPLE = 16;

function hashBytes(buf: Buffer, start: number, end: number, seed: number): number {
  let h = (0x811c9dc5 ^ seed ^ (end - start)) >>> 0;
  const headEnd = Math.min(end, start + SAMPLE);
  for (let i = start; i < headEnd; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  for (let i = Math.max(headEnd, end - SAMPLE); i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}

interface Entry<V> {
  bytes: Buffer;
  value: V;
}

export class ByteKeyCache<V> {
  private readonly buckets = new Map<number, Entry<V>[]>();
  private entries = 0;

  constructor(private readonly limit: number) {}

  /** `seed` separates namespaces sharing one cache (e.g. dictionary kinds). */
  get(buf: Buffer, start: number, end: number, seed = 0): V | undefined {
    const bucket = this.buckets.get(hashBytes(buf, start, end, seed));
    if (!bucket) return undefined;
    const len = end - start;
    for (const e of bucket) {
      if (e.bytes.length === len && buf.compare(e.bytes, 0, len, start, end) === 0) return e.value;
    }
    return undefined;
  }

  set(buf: Buffer, start: number, end: number, value: V, seed = 0): void {
    if (this.entries >= this.limit) this.clear();
    const h = hashBytes(buf, start, end, seed);
    const entry = { bytes: Buffer.from(buf.subarray(start, end)), value };
    const bucket = this.buckets.get(h);
    if (bucket) bucket.push(entry);
    else this.buckets.set(h, [entry]);
    this.entries++;
  }

  clear(): void {
    this.buckets.clear();
    this.entries = 0;
  }
}

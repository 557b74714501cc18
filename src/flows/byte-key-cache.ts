/**
 * A bounded cache keyed by byte ranges, without building a string per lookup:
 * the key is hashed from all its bytes, and a hit is confirmed by comparing
 * them.
 *
 * Every byte counts: an endpoint seen on another node carries no endpoint id,
 * so the endpoints of one workload's pods share their leading bytes (identity,
 * namespace, labels) and their trailing ones (workload, cluster) and differ only
 * in the pod name between. A hash of the first and last 16 bytes, as this was,
 * put all of them in one bucket, and each lookup compared against every pod of
 * the workload: 200+ µs per flow at a few thousand pods.
 */
export function hashBytes(buf: Buffer, start: number, end: number, seed: number): number {
  // MurmurHash3's 32-bit mix, four bytes at a time.
  let h = (seed ^ (end - start)) | 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    let k = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  for (let shift = 0; i < end; i++, shift += 8) k |= buf[i] << shift;
  k = Math.imul(k, 0xcc9e2d51);
  h ^= Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
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

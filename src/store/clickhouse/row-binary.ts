/**
 * ClickHouse's RowBinary format: little-endian integers, strings as a LEB128
 * length then bytes, arrays as a LEB128 count then their items.
 */
export class RowBinaryWriter {
  private buf = Buffer.allocUnsafe(1 << 16);
  private pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  uint8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }

  uint16(v: number): void {
    this.room(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
  }

  uint32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  int32(v: number): void {
    this.room(4);
    this.buf.writeInt32LE(v | 0, this.pos);
    this.pos += 4;
  }

  uint64(v: bigint): void {
    this.room(8);
    this.buf.writeBigUInt64LE(v, this.pos);
    this.pos += 8;
  }

  private leb128(n: number): void {
    this.room(5);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }

  bytes(b: Uint8Array): void {
    this.leb128(b.length);
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void {
    const n = Buffer.byteLength(s);
    this.leb128(n);
    this.room(n);
    this.pos += this.buf.write(s, this.pos);
  }

  strings(list: readonly string[]): void {
    this.leb128(list.length);
    for (const s of list) this.string(s);
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written (a copy: the writer may be reused). */
  finish(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }
}

export class RowBinaryReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  uint8(): number {
    return this.buf[this.pos++];
  }

  uint64(): bigint {
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  private leb128(): number {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.pos++];
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
      shift += 7;
    }
  }

  /** A String column's bytes (a view into the answer, not a copy). */
  bytes(): Buffer {
    const n = this.leb128();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    return this.bytes().toString('utf8');
  }
}

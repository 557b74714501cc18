import { ByteWriter } from '../../flows/byte-writer.js';

/**
 * ClickHouse's RowBinary format: little-endian integers, strings as a LEB128
 * length then bytes, arrays as a LEB128 count then their items.
 */
export class RowBinaryWriter extends ByteWriter {
  constructor(initialBytes = 1 << 16) {
    super(initialBytes);
  }

  uint8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  uint16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
  }

  uint32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  int32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v | 0, this.pos);
    this.pos += 4;
  }

  uint64(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(v, this.pos);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.raw(b);
  }

  string(s: string): void {
    this.lengthPrefixedText(s);
  }

  /** A value encoded once with rowBinaryString, copied in. */
  encoded(v: EncodedString): void {
    this.raw(v);
  }
}

/** A string as RowBinary writes it (its length, then its UTF-8 bytes), for a value written in many rows. */
export type EncodedString = Buffer & { readonly encodedString: true };

export function rowBinaryString(s: string): EncodedString {
  const w = new RowBinaryWriter(Buffer.byteLength(s) + 10);
  w.string(s);
  return w.finish() as EncodedString;
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

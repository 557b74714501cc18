/**
 * A growing byte buffer written front to back and reused between messages:
 * what the protobuf writer (WireWriter) and ClickHouse's RowBinary writer
 * share. Both spell lengths as LEB128 varints.
 */
export class ByteWriter {
  protected buf: Buffer;
  protected pos = 0;

  constructor(initialBytes = 4096) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Starts a new message, reusing the buffer. */
  reset(): this {
    this.pos = 0;
    return this;
  }

  /** A copy of what was written (the buffer itself is reused). */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  protected ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  /** An unsigned varint (LEB128); exact up to 2^53. */
  varint(n: number): void {
    this.ensure(10);
    const buf = this.buf;
    while (n > 0x7fffffff) {
      buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    while (n > 0x7f) {
      buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[this.pos++] = n;
  }

  /** Bytes appended as they are. */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    // Most values written whole are a few bytes: a loop beats Uint8Array.set's call there.
    if (n <= 32) {
      const buf = this.buf;
      let pos = this.pos;
      for (let i = 0; i < n; i++) buf[pos++] = bytes[i];
      this.pos = pos;
      return;
    }
    this.buf.set(bytes, this.pos);
    this.pos += n;
  }

  /** A string's UTF-8 bytes, preceded by their length as a varint. */
  protected lengthPrefixedText(text: string): void {
    const len = Buffer.byteLength(text);
    this.varint(len);
    this.ensure(len);
    this.pos += this.buf.write(text, this.pos, 'utf8');
  }
}

/**
 * A minimal protobuf wire-format cursor. The ingest hot path uses it to walk a
 * Flow without materialising sub-messages: what repeats is interned by its raw
 * bytes, what is a number is read in place.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

export class WireCursor {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Reads an unsigned varint up to 2^53 exactly; larger values lose precision but never throw. */
  varint(): number {
    const buf = this.buf;
    let pos = this.pos;
    let byte = buf[pos++];
    let value = byte & 0x7f;
    if (byte < 0x80) {
      this.pos = pos;
      return value;
    }
    let mul = 128;
    for (let i = 1; i < 10; i++) {
      if (pos >= this.end) throw new WireError('truncated varint');
      byte = buf[pos++];
      value += (byte & 0x7f) * mul;
      if (byte < 0x80) {
        this.pos = pos;
        return value;
      }
      mul *= 128;
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** Reads a varint as a signed 32-bit value (int32 fields encode negatives as 10-byte varints). */
  int32(): number {
    return this.varint() | 0;
  }

  /** Reads a tag; returns field number * 8 + wire type (the raw tag). */
  tag(): number {
    return this.varint();
  }

  /** Reads a length prefix and returns the end offset of the delimited payload; pos is at its start. */
  delimited(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) throw new WireError('length-delimited field runs past its message');
    return end;
  }

  /** Skips the value of a field with the given wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.pos += 8;
        break;
      case WIRE_BYTES:
        this.pos = this.delimited();
        return;
      case WIRE_FIXED32:
        this.pos += 4;
        break;
      default:
        throw new WireError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new WireError('fixed-width field runs past its message');
  }

  string(end: number): string {
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }
}

/** Reads a google.protobuf.Timestamp payload. */
export function readTimestamp(buf: Buffer, start: number, end: number): { seconds: number; nanos: number } {
  const c = new WireCursor(buf, start, end);
  let seconds = 0;
  let nanos = 0;
  while (!c.done) {
    const tag = c.tag();
    if (tag === 0x08) seconds = c.varint();
    else if (tag === 0x10) nanos = c.int32();
    else c.skip(tag & 7);
  }
  return { seconds, nanos };
}

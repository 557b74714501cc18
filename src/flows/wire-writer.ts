import { ByteWriter } from './byte-writer.js';
import { WIRE_BYTES, WIRE_VARINT } from './wire.js';

/**
 * A minimal protobuf wire-format writer, the counterpart of WireCursor: it
 * writes stored raw sub-messages as they are (raw()) and numbers as varints, into one
 * growing buffer (a nested message reserves a one-byte length and moves its
 * body only when it turns out longer than 127 bytes).
 */
export class WireWriter extends ByteWriter {
  /**
   * Writes one gRPC frame: a flag byte (0, not compressed), the 32-bit length,
   * then the message `encode` writes. When `encode` throws, nothing of the frame
   * is left behind.
   */
  grpcFrame(encode: () => void): void {
    this.ensure(5);
    const at = this.pos;
    this.pos += 5;
    try {
      encode();
    } catch (err) {
      this.pos = at;
      throw err;
    }
    this.buf[at] = 0;
    this.buf.writeUInt32BE(this.pos - at - 5, at + 1);
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  /** A varint field, left out when zero (proto3 implicit presence). */
  uint(field: number, n: number | null): void {
    if (!n) return;
    this.tag(field, WIRE_VARINT);
    this.varint(n);
  }

  /** A length-delimited field holding `bytes` (an encoded message, or string bytes). */
  bytes(field: number, bytes: Uint8Array): void {
    this.tag(field, WIRE_BYTES);
    this.varint(bytes.length);
    this.raw(bytes);
  }

  string(field: number, text: string): void {
    if (text === '') return;
    this.tag(field, WIRE_BYTES);
    this.lengthPrefixedText(text);
  }

  /** A nested message whose body `write` produces (written even when empty: presence matters for messages). */
  message(field: number, write: () => void): void {
    this.tag(field, WIRE_BYTES);
    this.ensure(1);
    const lenAt = this.pos++;
    write();
    const len = this.pos - lenAt - 1;
    if (len < 0x80) {
      this.buf[lenAt] = len;
      return;
    }
    let size = 1;
    while (len >= 2 ** (7 * size)) size++;
    this.ensure(size - 1);
    this.buf.copy(this.buf, lenAt + size, lenAt + 1, this.pos);
    this.pos = lenAt;
    this.varint(len);
    this.pos = lenAt + size + len;
  }
}

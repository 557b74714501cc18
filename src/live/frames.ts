import { WireWriter } from '../flows/wire-writer.js';

/**
 * The frames the live thread writes and the faces send as they are: WebSocket
 * text frames (RFC 6455, as a server sends them: final, unmasked) and gRPC
 * frames (flag byte, 32-bit length, message).
 */

/** A WebSocket text frame carrying `text` (UTF-8). */
export function wsTextFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const header = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (header === 2) frame[1] = length;
  else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.write(text, header, 'utf8');
  return frame;
}

/** The payload of one WebSocket frame written by wsTextFrame. */
export function wsFramePayload(frame: Buffer): Buffer {
  const mark = frame[1] & 0x7f;
  return frame.subarray(mark < 126 ? 2 : mark === 126 ? 4 : 10);
}

const framer = new WireWriter();

/** A gRPC frame around one encoded message. */
export function grpcFrame(message: Uint8Array): Buffer {
  framer.reset().grpcFrame(() => framer.raw(message));
  return framer.finish();
}

/** A live flow's frame held while history or a backfill is sent, with its flowKey ('' when not known). */
export interface HeldFrame {
  frame: Buffer;
  key: string;
}

/** Packed frames (frame i ends at ends[i]) one by one, with their keys when given. */
export function splitFrames(frames: Buffer, ends: Uint32Array, keys: string[] | null): HeldFrame[] {
  const out: HeldFrame[] = new Array(ends.length);
  for (let i = 0, start = 0; i < ends.length; start = ends[i], i++) out[i] = { frame: frames.subarray(start, ends[i]), key: keys?.[i] ?? '' };
  return out;
}

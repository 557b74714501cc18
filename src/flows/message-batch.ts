/**
 * Bytes packed back to back, the shapes messages and frames cross threads in.
 *
 * Relay messages for the writer and the live thread: message i is
 * bytes[offsets[i], offsets[i+1]).
 */
export function packMessages(messages: readonly Uint8Array[], into: Uint8Array): Uint32Array<ArrayBuffer> {
  const offsets = new Uint32Array(messages.length + 1);
  for (let i = 0, at = 0; i < messages.length; i++) {
    into.set(messages[i], at);
    at += messages[i].length;
    offsets[i + 1] = at;
  }
  return offsets;
}

/** Bytes the messages (or frames) take together. */
export function totalBytes(messages: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const m of messages) bytes += m.length;
  return bytes;
}

/** Frames packed back to back in one buffer of their own (it can be transferred to another thread): frame i ends at ends[i]. */
export function packFrames(frames: readonly Uint8Array[]): { frames: Uint8Array<ArrayBuffer>; ends: Uint32Array<ArrayBuffer> } {
  const packed = new Uint8Array(totalBytes(frames));
  const ends = new Uint32Array(frames.length);
  for (let i = 0, at = 0; i < frames.length; i++) {
    packed.set(frames[i], at);
    ends[i] = at += frames[i].length;
  }
  return { frames: packed, ends };
}

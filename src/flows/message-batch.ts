/**
 * Relay messages packed back to back into one buffer, the shape batches cross
 * to other threads in (the writer, the live thread): message i is
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

/** Bytes the messages take together. */
export function messagesBytes(messages: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const m of messages) bytes += m.length;
  return bytes;
}

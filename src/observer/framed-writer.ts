import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { WireWriter } from '../flows/wire-writer.js';

/**
 * Writes a server stream's messages to its HTTP/2 stream in batches of gRPC
 * frames. grpc-js writes each message as its own HTTP/2 write and waits for it
 * before the next, about 25,000 messages/s on a small machine; GetFlows sends
 * one small message per flow, so batching them is 5x faster. The wire is the
 * same either way (each message is its own length-prefixed gRPC frame).
 *
 * grpc-js does not expose the HTTP/2 stream, so it is found on the call's
 * internals (checked by shape, and covered by a test for the grpc-js version in
 * package-lock.json); when it cannot be found the writer falls back to
 * call.write, slower but correct.
 */
export class FramedWriter {
  /** The call's HTTP/2 stream, or null when grpc-js hides it (then each message goes through call.write). */
  private readonly http2: Duplex | null;
  /** gRPC frames (flag byte, 32-bit length, message) waiting for the end of the tick. */
  private readonly batch = new WireWriter();
  private scheduled = false;

  /** Bytes gathered before a batch is handed to HTTP/2 without waiting for the end of the tick. */
  static readonly BATCH_BYTES = 64 * 1024;
  /** Bytes HTTP/2 may hold unsent before history waits for the client (its flow control window stops the rest). */
  static readonly ROOM_BYTES = 1024 * 1024;
  /** Live bytes a follower may have waiting before further flows are dropped (about 10,000 flows). */
  static readonly MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
  /** The same limit in messages for the call.write fallback (grpc-js counts messages in object mode). */
  static readonly MAX_BACKLOG_MESSAGES = 8192;

  constructor(private readonly call: grpc.ServerWritableStream<unknown, Buffer>) {
    this.http2 = findHttp2Stream(call);
    if (!this.http2) return;
    // grpc-js handles one stream error (once); a write racing a reset must not raise a second, unhandled one.
    this.http2.on('error', () => undefined);
    // Response headers go first, the way grpc-js sends them before its first message.
    call.sendMetadata(new grpc.Metadata());
  }

  /** Whether messages are written in batches (false: the call.write fallback). */
  get batched(): boolean {
    return this.http2 !== null;
  }

  /** Whether history should wait for the client before writing more (see room()). */
  get needsRoom(): boolean {
    return this.http2 ? this.http2.writableLength + this.batch.length >= FramedWriter.ROOM_BYTES : this.call.writableNeedDrain;
  }

  /** Whether the client is so far behind that live messages should be dropped (and reported lost) instead of buffered. */
  get behind(): boolean {
    return this.http2 ? this.http2.writableLength + this.batch.length >= FramedWriter.MAX_BACKLOG_BYTES : this.call.writableLength >= FramedWriter.MAX_BACKLOG_MESSAGES;
  }

  private get gone(): boolean {
    const s = this.http2 ?? this.call;
    return s.destroyed || s.writableEnded;
  }

  /** Queues one encoded message; batches go out at the end of the tick or every BATCH_BYTES. */
  push(message: Buffer): void {
    if (!this.http2) {
      this.call.write(message);
      return;
    }
    this.batch.grpcFrame(() => this.batch.raw(message));
    this.queued();
  }

  /**
   * Queues complete gRPC frames (flag byte, 32-bit length, message) encoded
   * elsewhere, e.g. a history page from a query thread: one copy, no per-message work.
   */
  pushFrames(frames: Buffer): void {
    if (!this.http2) {
      for (let at = 0; at + 5 <= frames.length; at += 5 + frames.readUInt32BE(at + 1)) {
        this.call.write(frames.subarray(at + 5, at + 5 + frames.readUInt32BE(at + 1)));
      }
      return;
    }
    this.batch.raw(frames);
    this.queued();
  }

  /** After something was added to the batch: hand it over when full, else at the end of the tick. */
  private queued(): void {
    if (this.batch.length >= FramedWriter.BATCH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Hands what is queued to HTTP/2 as one write. */
  flush(): void {
    this.scheduled = false;
    if (!this.http2 || this.batch.length === 0) return;
    const out = this.batch.finish();
    this.batch.reset();
    if (!this.gone) this.http2.write(out);
  }

  /** Resolves when the client has taken enough that more may be written (or the stream is gone). */
  async room(): Promise<void> {
    this.flush();
    if (!this.needsRoom || this.gone) return;
    const s = this.http2 ?? this.call;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        s.off('drain', done).off('close', done).off('error', done);
        this.call.off('cancelled', done);
        resolve();
      };
      s.on('drain', done).on('close', done).on('error', done);
      this.call.on('cancelled', done);
    });
  }
}

/** The HTTP/2 stream under a grpc-js server call (call → interceptors → base call → stream), or null. */
function findHttp2Stream(call: object): Duplex | null {
  let node = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 8 && node && typeof node === 'object'; depth++) {
    const stream = (node as { stream?: unknown }).stream;
    if (isHttp2Stream(stream)) return stream;
    node = (node as { nextCall?: unknown }).nextCall;
  }
  return null;
}

function isHttp2Stream(s: unknown): s is Duplex {
  if (!s || typeof s !== 'object') return false;
  const o = s as Record<string, unknown>;
  return typeof o.write === 'function' && typeof o.respond === 'function' && typeof o.sendTrailers === 'function' && 'session' in o;
}

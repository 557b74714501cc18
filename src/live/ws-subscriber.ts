import type { WebSocket } from 'ws';
import type { FilterSet } from '../query/filter.js';
import { packFrames } from '../flows/message-batch.js';
import { splitFrames, wsFramePayload } from './frames.js';
import type { HeldFrame } from './frames.js';
import type { Subscriber } from './hub.js';
import type { LiveForm } from './protocol.js';

/** Bytes a client may have unsent before its flows are dropped (and counted) instead of queued. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Live flows held while the backfill is being sent. */
const MAX_HELD = 10_000;
/** How often a backfill waiting for its client looks at the send buffer again. */
const BACKFILL_DRAIN_POLL_MS = 5;

/** The TCP socket under a ws WebSocket (ws keeps it as `_socket`), when frames may be written to it directly. */
interface RawSocket {
  write(data: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
}

/** A WebSocket close reason: at most 123 bytes of UTF-8 (RFC 6455), cut at a character. */
export function closeReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
  return reason;
}

/** Stored flows for a backfill: their frames back to back (frame i ends at ends[i]) and their flowKeys. */
export interface BackfillPage {
  frames: Uint8Array;
  ends: ArrayLike<number>;
  keys: string[];
}

/**
 * One WebSocket live-stream client. Frames are JSON: `{"type":"flow", ...GetFlowsResponse jsonpb}`,
 * `{"type":"lost","count":n}` when flows were dropped because the client was slow,
 * `{"type":"heartbeat","time":...}`, and `{"type":"backfill_done","count":n}`.
 */
export class WsSubscriber implements Subscriber {
  readonly form: LiveForm = { kind: 'ws' };
  lost = 0;
  sent = 0;
  private held: HeldFrame[] | null = [];
  private backfilled = new Set<string>();
  private backfillCount = 0;
  private corked = false;

  constructor(
    readonly socket: WebSocket,
    readonly filters: FilterSet,
  ) {}

  deliverFrames(frames: Buffer, ends: Uint32Array, keys: string[] | null): void {
    if (this.held) {
      for (const f of splitFrames(frames, ends, keys)) {
        if (this.held.length < MAX_HELD) this.held.push(f);
        else this.lost++;
      }
      return;
    }
    if (this.socket.readyState !== this.socket.OPEN) return;
    if (this.behind) {
      this.lost += ends.length;
      return;
    }
    this.flushLost();
    this.writeFrames(frames, ends);
  }

  skipped(count: number): void {
    this.lost += count;
  }

  stalled(): boolean {
    return this.held === null && this.behind;
  }

  failed(reason: string): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(1011, closeReason(reason));
  }

  /** The client has more than MAX_BUFFERED_BYTES unsent: flows for it are dropped (and counted) instead of queued. */
  private get behind(): boolean {
    return this.socket.bufferedAmount > MAX_BUFFERED_BYTES;
  }

  /**
   * Sends one page of stored flows (their frames, serialised in a query thread,
   * back to back: frame i ends at ends[i]) and waits until the client has taken
   * most of it: a backfill is paced by the client, never dropped for its speed,
   * and only one page of it is in memory at a time.
   */
  async sendBackfill(page: BackfillPage): Promise<void> {
    const frames = Buffer.from(page.frames.buffer, page.frames.byteOffset, page.frames.byteLength);
    for (let i = 0, start = 0; i < page.ends.length; start = page.ends[i], i++) {
      if (this.socket.readyState !== this.socket.OPEN) return;
      this.backfilled.add(page.keys[i]);
      this.cork();
      this.socket.send(frames.subarray(start, page.ends[i]), { binary: false });
      this.sent++;
    }
    this.backfillCount += page.ends.length;
    while (this.behind && this.socket.readyState === this.socket.OPEN) await new Promise((resolve) => setTimeout(resolve, BACKFILL_DRAIN_POLL_MS));
  }

  /** After the backfill (`truncated`: older flows of a since= backfill were left out): whatever arrived live meanwhile (minus flows the backfill sent), then live flows as they come. */
  finishBackfill(truncated?: boolean): void {
    this.frame({ type: 'backfill_done', count: this.backfillCount, ...(truncated === undefined ? {} : { truncated }) });
    const held = this.held ?? [];
    this.held = null;
    const live = held.filter((h) => !this.backfilled.has(h.key)).map((h) => h.frame);
    this.backfilled = new Set();
    if (live.length === 0 || this.socket.readyState !== this.socket.OPEN) return;
    const { frames, ends } = packFrames(live);
    this.writeFrames(Buffer.from(frames.buffer), ends);
  }

  heartbeat(): void {
    this.flushLost();
    this.frame({ type: 'heartbeat', time: new Date().toISOString() });
  }

  /**
   * Complete WebSocket frames from the live thread, written to the TCP socket
   * as one write: ws sends each message as its own write, and a live stream
   * is tens of thousands of small messages a second. The bytes are what
   * ws.send would write (final unmasked text frames; this server negotiates no
   * compression, so ws queues nothing that they could overtake). Without
   * ws's socket, they go through ws.send one by one.
   */
  private writeFrames(frames: Buffer, ends: Uint32Array): void {
    const tcp = this.tcp();
    if (tcp && typeof tcp.write === 'function') tcp.write(frames);
    else {
      this.cork();
      for (const { frame } of splitFrames(frames, ends, null)) this.socket.send(wsFramePayload(frame));
    }
    this.sent += ends.length;
  }

  /** ws's TCP socket (kept as `_socket`), when there is one. */
  private tcp(): RawSocket | undefined {
    return (this.socket as unknown as { _socket?: RawSocket })._socket;
  }

  /**
   * Holds this tick's frames in the TCP socket and writes them together at its
   * end: one system call for a slice of flows instead of one per frame (the
   * frames are unchanged). ws keeps its socket as `_socket`; without it, frames
   * go out one by one.
   */
  private cork(): void {
    if (this.corked) return;
    const tcp = this.tcp();
    if (!tcp || typeof tcp.cork !== 'function') return;
    this.corked = true;
    tcp.cork();
    process.nextTick(() => {
      this.corked = false;
      tcp.uncork();
    });
  }

  private flushLost(): void {
    if (this.lost > 0 && !this.behind) {
      this.frame({ type: 'lost', count: this.lost });
      this.lost = 0;
    }
  }

  private frame(obj: object): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(obj));
  }
}

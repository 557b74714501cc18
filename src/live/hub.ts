import type { FlowRecord } from '../flows/record.js';
import { decodeFlowRecord } from '../flows/normalize.js';
import type { FilterSet } from '../query/filter.js';

/** A live-stream consumer (one WebSocket client). */
export interface Subscriber {
  filters: FilterSet;
  deliver(flow: FlowRecord): void;
}

/** Raw messages decoded per tick; the rest wait for the next tick so the event loop keeps breathing. */
const DECODE_SLICE = 2048;
/** Raw messages waiting to be decoded; beyond this, live delivery drops (and counts) rather than grow memory. */
const MAX_PENDING = 50_000;

/**
 * Fans flows out to live subscribers as they arrive from the relay, before and
 * independent of storage. Decodes only while someone is subscribed.
 */
export class LiveHub {
  private readonly subscribers = new Set<Subscriber>();
  private pending: Buffer[] = [];
  private scheduled = false;
  dropped = 0;
  malformed = 0;

  get size(): number {
    return this.subscribers.size;
  }

  add(s: Subscriber): void {
    this.subscribers.add(s);
  }

  remove(s: Subscriber): void {
    this.subscribers.delete(s);
    if (this.subscribers.size === 0) this.pending = [];
  }

  /** Called for every raw message from a relay. Cheap when nobody is subscribed. */
  offer(message: Buffer): void {
    if (this.subscribers.size === 0) return;
    if (this.pending.length >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    this.pending.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    const slice = this.pending.splice(0, DECODE_SLICE);
    for (const message of slice) {
      let flow: FlowRecord | null;
      try {
        flow = decodeFlowRecord(message);
      } catch {
        this.malformed++;
        continue;
      }
      if (!flow) continue;
      for (const s of this.subscribers) if (s.filters.match(flow)) s.deliver(flow);
    }
    if (this.pending.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }
}

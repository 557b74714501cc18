import type { FlowRecord } from '../flows/record.js';
import { decodeFlowRecord } from '../flows/normalize.js';
import { peekFlowVerdict } from '../flows/envelope.js';
import type { FilterSet } from '../query/filter.js';

/** A live-stream consumer (one WebSocket client). */
export interface Subscriber {
  filters: FilterSet;
  deliver(flow: FlowRecord): void;
  /** Flows dropped before filtering because live decoding fell behind. */
  skipped(count: number): void;
}

/** Longest a decode slice may hold the event loop (ingest shares it). */
const SLICE_BUDGET_MS = 8;
/**
 * Share of the main thread live decoding may use, per window. Ingest runs on
 * the same thread; past this share, live delivery falls behind and drops
 * (reported as "lost") instead of slowing ingest.
 */
const CPU_SHARE = 0.3;
const WINDOW_MS = 100;
/**
 * Raw messages waiting to be decoded. Beyond this, the oldest half is dropped
 * (and reported): a live view should stay current rather than fall behind.
 */
const MAX_PENDING = 4096;

/**
 * Fans flows out to live subscribers as they arrive from the relay, before and
 * independent of storage. Decodes only while someone is subscribed.
 */
export class LiveHub {
  private readonly subscribers = new Set<Subscriber>();
  private pending: Buffer[] = [];
  private scheduled = false;
  /** Union of the subscribers' verdict hints; null when some subscriber takes any verdict. */
  private verdicts: Set<number> | null = null;
  dropped = 0;
  malformed = 0;
  private windowStart = 0;
  private windowUsedMs = 0;

  get size(): number {
    return this.subscribers.size;
  }

  add(s: Subscriber): void {
    this.subscribers.add(s);
    this.updateHints();
  }

  remove(s: Subscriber): void {
    this.subscribers.delete(s);
    if (this.subscribers.size === 0) this.pending = [];
    this.updateHints();
  }

  private updateHints(): void {
    const hints = [...this.subscribers].map((s) => s.filters.verdictHint());
    this.verdicts = hints.some((h) => h === null) ? null : new Set(hints.flatMap((h) => h!));
  }

  /** Called for every raw message from a relay. Cheap when nobody is subscribed. */
  offer(message: Buffer): void {
    if (this.subscribers.size === 0) return;
    if (this.verdicts) {
      let verdict: number | null;
      try {
        verdict = peekFlowVerdict(message);
      } catch {
        return; // malformed: the writer counts it
      }
      if (verdict === null || !this.verdicts.has(verdict)) return;
    }
    if (this.pending.length >= MAX_PENDING) {
      const stale = this.pending.splice(0, MAX_PENDING / 2).length;
      this.dropped += stale;
      for (const s of this.subscribers) s.skipped(stale);
    }
    this.pending.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    const started = performance.now();
    if (started - this.windowStart >= WINDOW_MS) {
      this.windowStart = started;
      this.windowUsedMs = 0;
    }
    const budget = Math.min(SLICE_BUDGET_MS, CPU_SHARE * WINDOW_MS - this.windowUsedMs);
    if (budget <= 0) {
      this.scheduled = true;
      setTimeout(() => this.drain(), this.windowStart + WINDOW_MS - started);
      return;
    }
    let done = 0;
    for (const message of this.pending) {
      done++;
      let flow: FlowRecord | null;
      try {
        flow = decodeFlowRecord(message);
      } catch {
        this.malformed++;
        continue;
      }
      if (!flow) continue;
      for (const s of this.subscribers) if (s.filters.match(flow)) s.deliver(flow);
      if ((done & 63) === 0 && performance.now() - started > budget) break;
    }
    this.windowUsedMs += performance.now() - started;
    this.pending.splice(0, done);
    if (this.pending.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }
}

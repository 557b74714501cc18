import type { FlowRecord } from '../flows/record.js';
import { decodeFlowRecord } from '../flows/normalize.js';
import { peekFlowVerdict, scanEnvelope, ResponseKind } from '../flows/envelope.js';
import { scanFlow } from '../flows/scan.js';
import type { Interner } from '../flows/scan.js';
import type { FilterSet } from '../query/filter.js';

/** A live-stream consumer (one WebSocket client). */
export interface Subscriber {
  filters: FilterSet;
  deliver(flow: FlowRecord): void;
  /** Flows dropped before filtering because live decoding fell behind. */
  skipped(count: number): void;
  /**
   * Set by a subscriber that takes every flow as the relay's own GetFlowsResponse
   * bytes (an unfiltered Observer follower): the hub hands each one over as it
   * arrives, undecoded, instead of calling deliver.
   */
  deliverRaw?: (message: Buffer) => void;
  /** True while the client is so far behind that a flow given now would be dropped anyway (then, for it, nothing is decoded). */
  stalled?(): boolean;
}

/** An interner that keeps nothing: scanFlow then only checks a message's framing. */
const CHECK_ONLY: Interner = { intern: () => 0, endpoint: () => ({ id: 0, workload: 0, labelSet: 0 }), node: () => ({ id: 0, cluster: 0 }) };

/** Longest a decode slice may hold the event loop (ingest shares it). */
const SLICE_BUDGET_MS = 8;
/**
 * Share of the main thread live decoding may use, per window: at least
 * MIN_SHARE, and whatever the rest of the main thread (ingest, API, metrics)
 * left idle in the last window, up to MAX_SHARE. A subscriber that keeps up is
 * then not starved while the thread has time to spare, and ingest still gets
 * most of a busy thread: past the share, live delivery falls behind and drops
 * (reported as "lost") instead of slowing ingest.
 */
const MIN_SHARE = 0.3;
const MAX_SHARE = 0.85;
/** Of the thread, what is kept free for the rest even when live decoding takes up the idle time. */
const HEADROOM = 0.1;
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
  /** Subscribers served decoded flows. */
  private readonly subscribers = new Set<Subscriber>();
  /** Subscribers served raw messages (see Subscriber.deliverRaw). */
  private readonly raw = new Set<Subscriber>();
  private pending: Buffer[] = [];
  private scheduled = false;
  /** Union of the subscribers' verdict hints; null when some subscriber takes any verdict. */
  private verdicts: Set<number> | null = null;
  dropped = 0;
  malformed = 0;
  /** Messages decoded for subscribers (none while every subscriber is stalled). */
  decoded = 0;
  private windowStart = 0;
  private windowUsedMs = 0;
  /** The share of this window, from the last one's event-loop utilization. */
  private share = MIN_SHARE;
  private elu = performance.eventLoopUtilization();

  get size(): number {
    return this.subscribers.size + this.raw.size;
  }

  add(s: Subscriber): void {
    if (s.deliverRaw) this.raw.add(s);
    else this.subscribers.add(s);
    this.updateHints();
  }

  remove(s: Subscriber): void {
    this.raw.delete(s);
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
    if (this.raw.size > 0) this.offerRaw(message);
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
    if (this.pending.length >= MAX_PENDING) this.dropOldest(MAX_PENDING / 2);
    this.pending.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Hands a flow's raw response to the raw subscribers, once its framing checks out (a broken message would break their streams). */
  private offerRaw(message: Buffer): void {
    try {
      const env = scanEnvelope(message, 0, message.length);
      if (env.kind !== ResponseKind.Flow) return;
      scanFlow(message, env.start, env.end, CHECK_ONLY);
    } catch {
      return; // malformed: the writer counts it
    }
    for (const s of this.raw) s.deliverRaw!(message);
  }

  /** Drops the `count` oldest pending messages, reported to every subscriber as lost. */
  private dropOldest(count: number): void {
    const dropped = this.pending.splice(0, count).length;
    this.dropped += dropped;
    for (const s of this.subscribers) s.skipped(dropped);
  }

  private allStalled(): boolean {
    for (const s of this.subscribers) if (s.stalled?.() !== true) return false;
    return true;
  }

  /** Live decoding's share for a new window: the minimum, plus what everything else left idle in the last one. */
  private nextShare(now: number): number {
    const elu = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(elu, this.elu).utilization;
    this.elu = elu;
    const elapsed = now - this.windowStart;
    const others = elapsed > 0 ? Math.max(0, busy - this.windowUsedMs / elapsed) : 1;
    return Math.min(MAX_SHARE, Math.max(MIN_SHARE, 1 - HEADROOM - others));
  }

  private drain(): void {
    this.scheduled = false;
    const started = performance.now();
    if (started - this.windowStart >= WINDOW_MS) {
      this.share = this.nextShare(started);
      this.windowStart = started;
      this.windowUsedMs = 0;
    }
    const budget = Math.min(SLICE_BUDGET_MS, this.share * WINDOW_MS - this.windowUsedMs);
    if (budget <= 0) {
      this.scheduled = true;
      setTimeout(() => this.drain(), this.windowStart + WINDOW_MS - started);
      return;
    }
    if (this.allStalled()) {
      // Nobody could take a flow now: report them lost instead of decoding them for nothing.
      this.dropOldest(this.pending.length);
      return;
    }
    let done = 0;
    for (const message of this.pending) {
      done++;
      let flow: FlowRecord | null;
      try {
        this.decoded++;
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

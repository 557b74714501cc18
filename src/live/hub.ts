import { Worker } from 'node:worker_threads';
import { peekFlowVerdict, scanEnvelope, ResponseKind } from '../flows/envelope.js';
import { packMessages, totalBytes } from '../flows/message-batch.js';
import { scanFlow } from '../flows/scan.js';
import type { Interner } from '../flows/scan.js';
import type { Logger } from '../log.js';
import type { FilterSet } from '../query/filter.js';
import type { LiveForm, LiveOutput, LiveReply, LiveRequest, LiveThreadSettings } from './protocol.js';

/** A live-stream consumer (one WebSocket client or one Observer follower). */
export interface Subscriber {
  filters: FilterSet;
  /** How the live thread encodes this subscriber's flows. */
  readonly form: LiveForm;
  /**
   * A batch of this subscriber's flows, encoded as `form` says, back to back
   * (frame i ends at ends[i]). `keys`: their flowKeys while the subscriber
   * holds flows (until it calls LiveHub.holdOver), else null.
   */
  deliverFrames(frames: Buffer, ends: Uint32Array, keys: string[] | null): void;
  /** Flows it did not get because it was stalled, or because live encoding fell behind. */
  skipped(count: number): void;
  /**
   * Set by a subscriber that takes every flow as the relay's own GetFlowsResponse
   * bytes (an unfiltered Observer follower): the hub hands each one over as it
   * arrives, undecoded, on the main thread.
   */
  deliverRaw?: (message: Buffer) => void;
  /** True while the client is so far behind that a flow given now would be dropped anyway (then, for it, nothing is encoded). */
  stalled?(): boolean;
  /** The live thread refused the subscription (it is removed from the hub): the subscriber's stream ends with this error. */
  failed(reason: string): void;
}

/** An interner that keeps nothing: scanFlow then only checks a message's framing. */
const CHECK_ONLY: Interner = { intern: () => 0, endpoint: () => ({ id: 0, workload: 0, labelSet: 0 }), node: () => ({ id: 0, cluster: 0 }) };

/** Batches the live thread may hold at once; beyond them, messages wait here. */
const MAX_IN_FLIGHT = 2;
/** Messages per batch at most (a batch is what arrived in one turn of the event loop, up to this). */
const MAX_BATCH = 1024;
/**
 * Raw messages waiting for the live thread. Beyond this, the oldest half is
 * dropped (and reported lost): a live view should stay current rather than
 * fall behind, and ingest never waits for it.
 */
const MAX_PENDING = 4096;
/**
 * The same while a new live thread catches up: it takes ~0.4 s to load (over
 * 1 s on a busy machine) and runs slower until its code is optimised, so the
 * first subscriber's flows of that time wait for it instead of being lost.
 * ~1 KB each, so at most ~32 MB, for that moment only: once the thread has
 * caught up, or CATCH_UP_MS after it started, MAX_PENDING applies again (a
 * thread that cannot keep up must not make every flow seconds late).
 */
const MAX_PENDING_STARTING = 32_768;
const CATCH_UP_MS = 5000;
/**
 * The live thread's nice value. When the CPU is short, ingest (nice 0) comes
 * first: a flow not stored is lost for good, a live frame not sent is reported
 * to its subscriber as lost. Query threads (nice 10) come after the live stream.
 */
const LIVE_THREAD_NICE = 5;
/** The live thread is stopped after this long without subscribers (an idle one holds ~25 MB). */
const IDLE_STOP_MS = 60_000;

interface Registered {
  id: number;
  sub: Subscriber;
  /** Whether its frames come with keys (until holdOver). */
  holding: boolean;
}

/**
 * Fans flows out to live subscribers as they arrive from the relay, before and
 * independent of storage. Decoding, filtering and encoding happen in the live
 * thread (encoder.ts), started while someone is subscribed; the main thread
 * copies each tick's messages to it and writes back the frames it returns.
 */
export class LiveHub {
  /** Subscribers served by the live thread, by id. */
  private readonly served = new Map<number, Registered>();
  private readonly ids = new Map<Subscriber, number>();
  /** Subscribers served raw messages (see Subscriber.deliverRaw). */
  private readonly raw = new Set<Subscriber>();
  private pending: Buffer[] = [];
  private scheduled = false;
  private nextId = 1;
  private seq = 0;
  private worker: Worker | null = null;
  /** While a new live thread has not yet caught up with what waited for it: until when it may (performance.now()), else 0. */
  private catchingUpUntil = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Union of the subscribers' verdict hints; null when some subscriber takes any verdict. */
  private verdicts: Set<number> | null = null;
  /** Messages dropped before the live thread saw them (it fell behind, or every subscriber was stalled). */
  dropped = 0;
  malformed = 0;
  /** Messages the live thread decoded (none while every subscriber is stalled). */
  decoded = 0;
  /** Messages in each batch the live thread holds (lost if it dies). */
  private readonly inFlight = new Map<number, number>();

  constructor(private readonly log?: Logger) {}

  get size(): number {
    return this.served.size + this.raw.size;
  }

  /** Messages waiting for the live thread or being encoded by it. */
  get backlog(): number {
    return this.pending.length + this.held();
  }

  /** Messages in the batches the live thread holds. */
  private held(): number {
    let n = 0;
    for (const count of this.inFlight.values()) n += count;
    return n;
  }

  add(s: Subscriber): void {
    if (s.deliverRaw) {
      this.raw.add(s);
      return;
    }
    const r: Registered = { id: this.nextId++, sub: s, holding: true };
    this.served.set(r.id, r);
    this.ids.set(s, r.id);
    this.updateHints();
    if (this.closed) return;
    // A new thread is told every subscription as it starts; a running one gets this one.
    if (this.worker) this.subscribe(this.worker, r);
    else this.workerFor();
  }

  private subscribe(worker: Worker, r: Registered): void {
    worker.postMessage({ type: 'subscribe', id: r.id, filters: r.sub.filters.source(), form: r.sub.form, keys: r.holding } satisfies LiveRequest);
  }

  /** The subscriber no longer holds live flows (its history or backfill is sent): its frames come without keys. */
  holdOver(s: Subscriber): void {
    const r = this.served.get(this.ids.get(s) ?? 0);
    if (!r || !r.holding) return;
    r.holding = false;
    this.worker?.postMessage({ type: 'keys-off', id: r.id } satisfies LiveRequest);
  }

  remove(s: Subscriber): void {
    this.raw.delete(s);
    const id = this.ids.get(s);
    if (id === undefined) return;
    this.ids.delete(s);
    this.served.delete(id);
    this.worker?.postMessage({ type: 'unsubscribe', id } satisfies LiveRequest);
    if (this.served.size === 0) {
      this.pending = [];
      this.stopWhenIdle();
    }
    this.updateHints();
  }

  /** Stops the live thread. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private updateHints(): void {
    const hints = [...this.served.values()].map((r) => r.sub.filters.verdictHint());
    this.verdicts = hints.some((h) => h === null) ? null : new Set(hints.flatMap((h) => h!));
  }

  /** Called for every raw message from a relay. Cheap when nobody is subscribed. */
  offer(message: Buffer): void {
    if (this.raw.size > 0) this.offerRaw(message);
    if (this.served.size === 0) return;
    if (this.verdicts) {
      let verdict: number | null;
      try {
        verdict = peekFlowVerdict(message);
      } catch {
        return; // malformed: the writer counts it
      }
      if (verdict === null || !this.verdicts.has(verdict)) return;
    }
    if (this.catchingUpUntil > 0 && performance.now() > this.catchingUpUntil) this.catchingUpUntil = 0;
    const limit = this.catchingUpUntil > 0 ? MAX_PENDING_STARTING : MAX_PENDING;
    if (this.pending.length >= limit) this.dropOldest(limit / 2);
    this.pending.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.sendPending();
      });
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

  /** Drops the `count` oldest pending messages, reported to every decoded subscriber as lost. */
  private dropOldest(count: number): void {
    const dropped = this.pending.splice(0, count).length;
    this.dropped += dropped;
    for (const { sub } of this.served.values()) sub.skipped(dropped);
  }

  /** Sends what is pending to the live thread, a batch at a time, while it holds fewer than MAX_IN_FLIGHT. */
  private sendPending(): void {
    while (this.pending.length > 0 && this.inFlight.size < MAX_IN_FLIGHT && !this.closed) {
      const stalled: number[] = [];
      for (const { id, sub } of this.served.values()) if (sub.stalled?.() === true) stalled.push(id);
      if (stalled.length === this.served.size) {
        // Nobody could take a flow now: report them lost instead of encoding them for nothing.
        this.dropOldest(this.pending.length);
        return;
      }
      const messages = this.pending.length <= MAX_BATCH ? this.pending : this.pending.slice(0, MAX_BATCH);
      this.pending = messages === this.pending ? [] : this.pending.slice(MAX_BATCH);
      const buf = new ArrayBuffer(totalBytes(messages));
      const offsets = packMessages(messages, new Uint8Array(buf));
      const seq = ++this.seq;
      this.inFlight.set(seq, messages.length);
      this.workerFor().postMessage({ type: 'batch', seq, buf, offsets, stalled } satisfies LiveRequest, [buf, offsets.buffer]);
    }
  }

  /** The live thread, started (and told the current subscriptions) when needed. */
  private workerFor(): Worker {
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./encoder.js', import.meta.url), { workerData: { nice: LIVE_THREAD_NICE } satisfies LiveThreadSettings });
    this.catchingUpUntil = performance.now() + CATCH_UP_MS;
    worker.unref();
    worker.on('message', (m: LiveReply) => this.onReply(m));
    worker.on('error', (err) => this.log?.error({ err }, 'the live thread failed; live subscribers lose the flows it held'));
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      // Crashed: what it held is lost; the next batch starts a new thread with the current subscriptions.
      this.worker = null;
      const lost = this.held();
      this.inFlight.clear();
      this.dropped += lost;
      for (const { sub } of this.served.values()) sub.skipped(lost);
    });
    this.worker = worker;
    for (const r of this.served.values()) this.subscribe(worker, r);
    return worker;
  }

  private stopWhenIdle(): void {
    if (this.idleTimer || !this.worker) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.served.size > 0 || this.inFlight.size > 0) return;
      const worker = this.worker;
      this.worker = null;
      void worker?.terminate();
    }, IDLE_STOP_MS);
    this.idleTimer.unref();
  }

  private onReply(m: LiveReply): void {
    if (m.type === 'subscribe-failed') {
      this.log?.warn({ id: m.id, err: m.message }, 'the live thread refused a subscription; its stream ends with the error');
      const sub = this.served.get(m.id)?.sub;
      if (sub) {
        this.remove(sub);
        sub.failed(`the live stream could not take this subscription: ${m.message}`);
      }
      return;
    }
    this.inFlight.delete(m.seq);
    if (this.pending.length <= MAX_BATCH) this.catchingUpUntil = 0;
    this.decoded += m.decoded;
    this.malformed += m.malformed;
    for (const out of m.outputs) this.deliver(out);
    this.sendPending();
  }

  private deliver(out: LiveOutput): void {
    const sub = this.served.get(out.id)?.sub;
    if (!sub) return; // it left meanwhile
    if (out.lost > 0) sub.skipped(out.lost);
    if (out.ends.length > 0) sub.deliverFrames(Buffer.from(out.frames.buffer, out.frames.byteOffset, out.frames.byteLength), out.ends, out.keys);
  }
}

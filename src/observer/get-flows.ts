import * as grpc from '@grpc/grpc-js';
import { lastStart } from '../query/last-start.js';
import { FlowkeeperError } from '../errors.js';
import { parseTimestamp } from '../flows/jsonpb.js';
import type { JsonObject } from '../flows/jsonpb.js';
import { flowKey } from '../flows/record.js';
import { decodeFlowRecord } from '../flows/normalize.js';
import type { FlowTime } from '../flows/record.js';
import { checkRange, fromMs, isBefore } from '../query/time.js';
import type { LiveHub, Subscriber } from '../live/hub.js';
import type { LiveForm } from '../live/protocol.js';
import { splitFrames } from '../live/frames.js';
import type { HeldFrame } from '../live/frames.js';
import { FilterSet } from '../query/filter.js';
import type { FlowPosition } from '../query/position.js';
import type { HistoryAnswer, HistoryJob } from '../query/jobs.js';
import { compileFieldMask } from '../flows/field-mask.js';
import { FramedWriter } from './framed-writer.js';
import { historyPages } from './history-pages.js';
import { lostEventsResponse } from '../flows/responses.js';

/** What GetFlows reads: history pages from the query engine and the live hub. */
export interface FlowSources {
  /** One budgeted history page, encoded where it is read (a query thread); `signal` cancels it. */
  history(job: HistoryJob, signal: AbortSignal): Promise<HistoryAnswer>;
  hub: LiveHub;
  /** Resolves once every flow received so far is stored (bounded wait): flows that reached the live hub before a follower subscribed are then in the store. */
  settled(): Promise<void>;
  /** --query-max-range: the longest since..until a request may name; history without since reaches back this far. */
  maxRangeSeconds: number;
}

/** Flows per history page (each page is one budgeted query; the stream yields between pages). */
const PAGE = 2000;
/** How a plain history stream is read: two query threads at once (the default pool), a page per chunk of time, one page read ahead each. */
const HISTORY_PAGES = { lanes: 2, chunkFlows: PAGE, maxAhead: 2 };
/** Live flows held while history is being sent (beyond: counted lost). */
const MAX_HELD = 10_000;
/** History flows this close to the subscription are remembered, so the live flows held meanwhile are not sent twice. */
const OVERLAP_SECONDS = 120;
/** `number` at or above this is "all" (hubble observe --all sends 2^64-1). */
const ALL = 2 ** 53;

type Call = grpc.ServerWritableStream<JsonObject, Buffer>;

/** What the live hand-over needs to know of a stored flow that was sent. */
interface HistoryFlow {
  time: FlowTime;
  /** flowKey of the flow ('' unless the stream follows). */
  key: string;
}

/** flowKey of a held live flow; a raw response is decoded for it (only those held during a hand-over are). */
function liveKey(flow: HeldFrame | Buffer): string {
  if (!Buffer.isBuffer(flow)) return flow.key;
  try {
    const record = decodeFlowRecord(flow);
    return record ? flowKey(record) : '';
  } catch {
    return '';
  }
}

function timeOf(json: unknown, name: string): FlowTime | null {
  if (json === undefined) return null;
  const t = typeof json === 'string' ? parseTimestamp(json) : null;
  if (!t) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `${name}: not a valid timestamp`, name);
  return t;
}

const now = (): FlowTime => fromMs(Date.now());

/** The request, validated: filters through the same parser as the REST API. */
export interface FlowsPlan {
  filters: FilterSet;
  mask: ((flow: JsonObject) => JsonObject) | null;
  /** The field-mask paths behind `mask` (history is encoded in a query thread, which compiles them again). */
  maskPaths: string[] | null;
  since: FlowTime;
  until: FlowTime;
  /** 0 = every flow of the range. */
  number: number;
  first: boolean;
  follow: boolean;
  /** Whether stored flows are sent at all (follow alone starts with new flows, as Hubble does). */
  history: boolean;
}

export function planGetFlows(req: JsonObject, maxRangeSeconds: number): FlowsPlan {
  const filters = FilterSet.parse({ whitelist: req.whitelist ?? [], blacklist: req.blacklist ?? [] });
  const experimental = (req.experimental ?? {}) as JsonObject;
  const paths = ((req.field_mask ?? experimental.field_mask ?? {}) as { paths?: string[] }).paths ?? [];
  const follow = req.follow === true;
  const first = req.first === true;
  const number = Math.min(Number(req.number ?? 0), ALL);
  const explicitSince = timeOf(req.since, 'since');
  const explicitUntil = follow ? null : timeOf(req.until, 'until');
  const until = explicitUntil ?? now();
  const since = explicitSince ?? { seconds: until.seconds - maxRangeSeconds, nanos: until.nanos };
  checkRange(since, until, maxRangeSeconds);
  const history = !follow || number > 0 || explicitSince !== null;
  const mask = compileFieldMask(paths);
  return { filters, mask, maskPaths: mask ? paths : null, since, until, number: number >= ALL ? 0 : number, first, follow, history };
}

/**
 * One GetFlows stream: stored flows in time order (the last N, the first N or
 * the whole range), then, with follow, live flows with no gap and no duplicate
 * (live flows are held while history is sent; those already sent are skipped).
 * A follower that reads too slowly gets LostEvents instead of unbounded buffers.
 */
export class FlowStream implements Subscriber {
  /** Live flows that arrive while history is sent: gRPC frames from the live thread with their keys, or the relay's raw responses. */
  private held: (HeldFrame | Buffer)[] | null = [];
  private lost = 0;

  private closed = false;
  /** Why the live thread refused this follower (the stream then ends with it). */
  private failure: Error | null = null;
  /** Ends the wait for the client to go, when the stream ends on its own. */
  private wake: (() => void) | null = null;
  /** Aborted when the stream ends: a history page being read for it is cancelled. */
  private readonly gone = new AbortController();
  /** Where responses go: batches of gRPC frames on the call's HTTP/2 stream. */
  private readonly out: FramedWriter;
  /** An unfiltered, unmasked follower takes the relay's responses as they are: no decoding, no re-encoding. */
  readonly deliverRaw?: (message: Buffer) => void;

  constructor(
    private readonly call: Call,
    private readonly plan: FlowsPlan,
    private readonly sources: FlowSources,
  ) {
    this.out = new FramedWriter(call);
    if (plan.filters.empty && !plan.mask) this.deliverRaw = (message) => this.take(message);
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
  }

  get filters(): FilterSet {
    return this.plan.filters;
  }

  get form(): LiveForm {
    return { kind: 'grpc', maskPaths: this.plan.maskPaths };
  }

  deliverFrames(frames: Buffer, ends: Uint32Array, keys: string[] | null): void {
    if (this.closed) return;
    if (this.held) {
      for (const f of splitFrames(frames, ends, keys)) this.hold(f);
      return;
    }
    if (this.out.behind) {
      this.lost += ends.length;
      return;
    }
    this.flushLost();
    this.out.pushFrames(frames);
  }

  /** A relay's raw response (unfiltered, unmasked followers). */
  private take(message: Buffer): void {
    if (this.closed) return;
    if (this.held) {
      this.hold(message);
      return;
    }
    if (this.out.behind) {
      this.lost++;
      return;
    }
    this.flushLost();
    this.out.push(message);
  }

  private hold(flow: HeldFrame | Buffer): void {
    if (this.held!.length < MAX_HELD) this.held!.push(flow);
    else this.lost++;
  }

  skipped(count: number): void {
    this.lost += count;
  }

  stalled(): boolean {
    return this.held === null && this.out.behind;
  }

  failed(reason: string): void {
    if (this.closed) return;
    this.failure = new Error(reason);
    this.close();
    this.wake?.();
  }

  async run(): Promise<void> {
    const subscribedAt = now();
    if (this.plan.follow) this.sources.hub.add(this);
    try {
      const recent = new Set<string>();
      // The newest time sent, and the flows sent at it (a catch-up starting there must not repeat them).
      const last: { time: FlowTime | null; keys: Set<string> } = { time: null, keys: new Set() };
      const sent = (flow: HistoryFlow): void => {
        if (!this.plan.follow) return;
        const t = flow.time;
        const key = flow.key;
        if (t.seconds >= subscribedAt.seconds - OVERLAP_SECONDS) recent.add(key);
        if (!last.time || isBefore(last.time, t)) {
          last.time = t;
          last.keys = new Set();
        }
        last.keys.add(key);
      };
      if (this.plan.history) await this.sendHistory(this.plan.since, this.plan.until, sent);
      if (this.failure) throw this.failure;
      if (!this.plan.follow || this.closed) return;
      if (this.plan.history) {
        // A flow that reached the live hub just before this follower subscribed, but was stored only after the
        // history query, is in neither: once everything received so far is stored, catch up from the last flow sent.
        await this.sources.settled();
        const fromTime = last.time ?? this.plan.since;
        const atFrom = last.keys;
        await this.sendHistory(fromTime, now(), sent, (f) => !atFrom.has(f.key) && !recent.has(f.key));
      }
      const held = this.held ?? [];
      this.held = null;
      this.sources.hub.holdOver(this);
      for (const f of held) {
        if (recent.has(liveKey(f))) continue;
        if (Buffer.isBuffer(f)) this.take(f);
        else this.deliverFrames(f.frame, Uint32Array.of(f.frame.length), null);
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        if (this.closed) resolve();
        else this.call.once('close', resolve).once('cancelled', resolve);
      });
      if (this.failure) throw this.failure;
    } catch (err) {
      // A history read cancelled because the live thread refused the follower: the refusal is what the client hears.
      throw this.failure ?? err;
    } finally {
      this.out.flush();
      this.close();
    }
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.gone.abort();
    this.sources.hub.remove(this);
  }

  private flushLost(): void {
    if (this.lost === 0) return;
    this.out.push(lostEventsResponse(this.lost, now()));
    this.lost = 0;
  }

  /** One budgeted page of the query engine, waiting out a busy engine instead of failing the stream. */
  private async page(req: Pick<HistoryJob, 'since' | 'until' | 'order' | 'limit' | 'after'>, output: HistoryJob['output']): Promise<HistoryAnswer> {
    const job: HistoryJob = { kind: 'history', filters: this.plan.filters.source(), ...req, maskPaths: this.plan.maskPaths, output, keys: this.plan.follow };
    for (;;) {
      try {
        return await this.sources.history(job, this.gone.signal);
      } catch (err) {
        if (!(err instanceof FlowkeeperError) || err.code !== 'FLOWKEEPER_ERR_BUSY' || this.closed) throw err;
        await new Promise((r) => setTimeout(r, 1000 * (err.retryAfterSeconds ?? 1)));
      }
    }
  }

  /** Where the last `number` matching flows begin, or null when the range holds fewer. */
  private lastStart(): Promise<FlowPosition | null> {
    const { since, until } = this.plan;
    return lastStart(this.plan.number, PAGE, (limit, after) => this.page({ since, until, order: 'desc', limit, after }, 'count'), () => this.closed);
  }

  /**
   * Stored flows of [since, until] in time order (the plan's last/first N on the
   * first pass), each passed to `sent`. The next page is read (in a query thread)
   * while this one is written.
   */
  private async sendHistory(since: FlowTime, until: FlowTime, sent: (flow: HistoryFlow) => void, wanted?: (flow: HistoryFlow) => boolean): Promise<void> {
    const { first, number } = this.plan;
    const catchUp = wanted !== undefined;
    if (!catchUp && !this.plan.follow && number === 0) return this.sendAllOf(since, until);
    const after: FlowPosition | null = number > 0 && !first && !catchUp ? await this.lastStart() : null;
    let remaining = number > 0 && first && !catchUp ? number : Infinity;
    const read = (from: FlowPosition | null): Promise<HistoryAnswer> => this.page({ since, until, order: 'asc', limit: Math.min(PAGE, remaining), after: from }, 'wire');
    let next: Promise<HistoryAnswer> | null = this.closed ? null : read(after);
    try {
      while (next && !this.closed) {
        const page: HistoryAnswer = await next;
        remaining -= page.count;
        next = page.next && remaining > 0 && !this.closed ? read(page.next) : null;
        if (!wanted && !this.plan.follow) {
          await this.writePage(page);
          continue;
        }
        const frames = Buffer.from(page.bytes!.buffer, page.bytes!.byteOffset, page.bytes!.byteLength);
        for (let i = 0, start = 0; i < page.count; start = page.ends[i], i++) {
          if (this.closed) return;
          const flow: HistoryFlow = { time: { seconds: page.seconds[i], nanos: page.nanos[i] }, key: page.keys?.[i] ?? '' };
          if (wanted && !wanted(flow)) continue;
          this.out.pushFrames(frames.subarray(start, page.ends[i]));
          sent(flow);
          // History is never dropped: wait while the client's buffer is full.
          if (this.out.needsRoom) await this.out.room();
        }
      }
    } finally {
      // A page read ahead for a stream that ended is not needed (and may fail as cancelled).
      next?.catch(() => undefined);
    }
  }

  /**
   * Every stored flow of [since, until] (a plain `since`/`--all` request, no
   * follow): pages are read by several query threads at once.
   */
  private async sendAllOf(since: FlowTime, until: FlowTime): Promise<void> {
    const read = (from: FlowTime, to: FlowTime, after: FlowPosition | null): Promise<HistoryAnswer> => this.page({ since: from, until: to, order: 'asc', limit: PAGE, after }, 'wire');
    for await (const page of historyPages(read, since, until, HISTORY_PAGES, () => this.closed)) await this.writePage(page);
  }

  /** A page's frames as they are (nothing to look at per flow), in chunks the client can take. */
  private async writePage(page: HistoryAnswer): Promise<void> {
    const frames = Buffer.from(page.bytes!.buffer, page.bytes!.byteOffset, page.bytes!.byteLength);
    for (let i = 0, start = 0; i < page.count && !this.closed; ) {
      let end = i;
      while (end < page.count && page.ends[end] - start < FramedWriter.BATCH_BYTES) end++;
      end = Math.max(end, i + 1);
      this.out.pushFrames(frames.subarray(start, page.ends[end - 1]));
      start = page.ends[end - 1];
      i = end;
      if (this.out.needsRoom) await this.out.room();
    }
  }
}

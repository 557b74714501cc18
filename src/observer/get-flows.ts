import * as grpc from '@grpc/grpc-js';
import { FlowkeeperError } from '../errors.js';
import { parseTimestamp } from '../flows/jsonpb.js';
import type { JsonObject } from '../flows/jsonpb.js';
import type { DictionaryLookup, StoredRow } from '../flows/materialize.js';
import { rowToRecord } from '../flows/materialize.js';
import { flowKey } from '../flows/record.js';
import { decodeFlowRecord } from '../flows/normalize.js';
import type { FlowRecord, FlowTime } from '../flows/record.js';
import { unpackUuid } from '../flows/scan.js';
import { checkRange, fromMs, isBefore } from '../query/time.js';
import type { LiveHub, Subscriber } from '../live/hub.js';
import { FilterSet } from '../query/filter.js';
import type { FlowPage, FlowPosition, FlowsRequest, RowReader } from '../query/service.js';
import { compileFieldMask } from './field-mask.js';
import { FramedWriter } from './framed-writer.js';
import { lostEventsResponse, recordResponse, writeStoredResponse } from './responses.js';
import type { WireWriter } from '../flows/wire-writer.js';

/** What GetFlows reads: the query engine's flow pages and the live hub. */
export interface FlowSources {
  flows<T>(req: FlowsRequest, read: RowReader<T>): FlowPage<T>;
  hub: LiveHub;
  /** Resolves once every flow received so far is stored (bounded wait): flows that reached the live hub before a follower subscribed are then in the store. */
  settled(): Promise<void>;
  /** --query-max-range: the longest since..until a request may name; history without since reaches back this far. */
  maxRangeSeconds: number;
}

/** Flows per history page (each page is one budgeted query; the stream yields between pages). */
const PAGE = 2000;
/** Live flows held while history is being sent (beyond: counted lost). */
const MAX_HELD = 10_000;
/** History flows this close to the subscription are remembered, so the live flows held meanwhile are not sent twice. */
const OVERLAP_SECONDS = 120;
/** `number` at or above this is "all" (hubble observe --all sends 2^64-1). */
const ALL = 2 ** 53;

type Call = grpc.ServerWritableStream<JsonObject, Buffer>;

/** A stored flow, encoded for the wire, with what the live hand-over needs to know of it. */
interface HistoryFlow {
  /** Writes the flow's GetFlowsResponse. */
  write(w: WireWriter): void;
  time: FlowTime;
  /** flowKey of the flow (computed only when a follower needs it). */
  key(): string;
}

/** flowKey of a live flow; a raw response is decoded for it (only those held during a hand-over are). */
function liveKey(flow: FlowRecord | Buffer): string {
  if (!Buffer.isBuffer(flow)) return flowKey(flow);
  try {
    const record = decodeFlowRecord(flow);
    return record ? flowKey(record) : '';
  } catch {
    return '';
  }
}

function keyOfRow(row: StoredRow, dict: DictionaryLookup): string {
  const uuid = row.uuid === null ? '' : unpackUuid(row.uuid);
  return uuid !== '' ? uuid : flowKey(rowToRecord(row, dict));
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
  return { filters, mask: compileFieldMask(paths), since, until, number: number >= ALL ? 0 : number, first, follow, history };
}

/**
 * One GetFlows stream: stored flows in time order (the last N, the first N or
 * the whole range), then, with follow, live flows with no gap and no duplicate
 * (live flows are held while history is sent; those already sent are skipped).
 * A follower that reads too slowly gets LostEvents instead of unbounded buffers.
 */
export class FlowStream implements Subscriber {
  /** Live flows that arrive while history is sent: decoded records, or the relay's raw responses. */
  private held: (FlowRecord | Buffer)[] | null = [];
  private lost = 0;

  private closed = false;
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

  deliver(flow: FlowRecord): void {
    this.take(flow);
  }

  private take(flow: FlowRecord | Buffer): void {
    if (this.closed) return;
    if (this.held) {
      if (this.held.length < MAX_HELD) this.held.push(flow);
      else this.lost++;
      return;
    }
    if (this.out.behind) {
      this.lost++;
      return;
    }
    this.flushLost();
    this.out.push(Buffer.isBuffer(flow) ? flow : recordResponse(flow, this.plan.mask));
  }

  skipped(count: number): void {
    this.lost += count;
  }

  stalled(): boolean {
    return this.held === null && this.out.behind;
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
        const key = flow.key();
        if (t.seconds >= subscribedAt.seconds - OVERLAP_SECONDS) recent.add(key);
        if (!last.time || isBefore(last.time, t)) {
          last.time = t;
          last.keys = new Set();
        }
        last.keys.add(key);
      };
      if (this.plan.history) await this.sendHistory(this.plan.since, this.plan.until, sent);
      if (!this.plan.follow || this.closed) return;
      if (this.plan.history) {
        // A flow that reached the live hub just before this follower subscribed, but was stored only after the
        // history query, is in neither: once everything received so far is stored, catch up from the last flow sent.
        await this.sources.settled();
        const fromTime = last.time ?? this.plan.since;
        const atFrom = last.keys;
        await this.sendHistory(fromTime, now(), sent, (f) => !atFrom.has(f.key()) && !recent.has(f.key()));
      }
      const held = this.held ?? [];
      this.held = null;
      for (const f of held) if (!recent.has(liveKey(f))) this.take(f);
      await new Promise<void>((resolve) => {
        if (this.closed) resolve();
        else this.call.once('close', resolve).once('cancelled', resolve);
      });
    } finally {
      this.out.flush();
      this.close();
    }
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sources.hub.remove(this);
  }

  private flushLost(): void {
    if (this.lost === 0) return;
    this.out.push(lostEventsResponse(this.lost, now()));
    this.lost = 0;
  }

  /** Encodes a stored row: from its bytes, or through its record when a field mask applies. */
  private readonly readRow = (row: StoredRow, dict: DictionaryLookup): HistoryFlow => ({
    write: this.plan.mask ? (w) => w.raw(recordResponse(rowToRecord(row, dict), this.plan.mask)) : (w) => writeStoredResponse(w, row, dict),
    time: { seconds: row.seconds, nanos: row.nanos },
    key: () => keyOfRow(row, dict),
  });

  /** Queues one history flow; false when its row cannot be read back (it is skipped: a damaged row never fails the stream). */
  private write(flow: HistoryFlow): boolean {
    try {
      this.out.pushWith(flow.write);
      return true;
    } catch {
      return false;
    }
  }

  /** One budgeted page of the query engine, waiting out a busy engine instead of failing the stream. */
  private async page<T>(req: Omit<FlowsRequest, 'filters'>, read: RowReader<T>): Promise<FlowPage<T>> {
    for (;;) {
      try {
        return this.sources.flows({ ...req, filters: this.plan.filters }, read);
      } catch (err) {
        if (!(err instanceof FlowkeeperError) || err.code !== 'FLOWKEEPER_ERR_BUSY' || this.closed) throw err;
        await new Promise((r) => setTimeout(r, 1000 * (err.retryAfterSeconds ?? 1)));
      }
    }
  }

  /** Where the last `number` matching flows begin, or null when the range holds fewer. */
  private async lastStart(): Promise<FlowPosition | null> {
    let remaining = this.plan.number;
    let after: FlowPosition | null = null;
    while (remaining > 0 && !this.closed) {
      const page: FlowPage<true> = await this.page({ since: this.plan.since, until: this.plan.until, order: 'desc', limit: Math.min(remaining, PAGE), after }, () => true as const);
      remaining -= page.flows.length;
      if (!page.next) return null;
      after = page.next;
      await new Promise((r) => setImmediate(r));
    }
    // Ascending pages start after a position: one row id before the oldest of the last N.
    return after ? { hour: after.hour, id: after.id - 1 } : null;
  }

  /** Stored flows of [since, until] in time order (the plan's last/first N on the first pass), each passed to `sent`. */
  private async sendHistory(since: FlowTime, until: FlowTime, sent: (flow: HistoryFlow) => void, wanted?: (flow: HistoryFlow) => boolean): Promise<void> {
    const { first, number } = this.plan;
    const catchUp = wanted !== undefined;
    let after: FlowPosition | null = number > 0 && !first && !catchUp ? await this.lastStart() : null;
    let remaining = number > 0 && first && !catchUp ? number : Infinity;
    while (!this.closed && remaining > 0) {
      const page = await this.page({ since, until, order: 'asc', limit: Math.min(PAGE, remaining), after }, this.readRow);
      for (const flow of page.flows) {
        if (this.closed) return;
        if (wanted && !wanted(flow)) continue;
        if (this.write(flow)) sent(flow);
        // History is never dropped: wait while the client's buffer is full.
        if (this.out.needsRoom) await this.out.room();
      }
      remaining -= page.flows.length;
      if (!page.next) return;
      after = page.next;
      await new Promise((r) => setImmediate(r));
    }
  }
}

import type { FlowTime } from '../flows/record.js';
import type { HistoryAnswer } from '../query/jobs.js';
import type { FlowPosition } from '../query/position.js';
import { fromNanos, toNanos } from '../query/time.js';

/** One budgeted page of [since, until] (until inclusive), after `after` when given. */
export type ReadPage = (since: FlowTime, until: FlowTime, after: FlowPosition | null) => Promise<HistoryAnswer>;

export interface HistoryPagesOptions {
  /** Chunks read at once (one query thread each, at most). */
  lanes: number;
  /** Flows a chunk of time should hold (its span is sized from what the last chunks held). */
  chunkFlows: number;
  /** Pages a chunk read ahead of the one being sent may hold before it waits. */
  maxAhead: number;
  /** Shortest chunk (default 1 ms: a dense second is still a few hundred chunks) */
  minSpanNs?: bigint;
}

/** The span of a chunk when nothing is known yet, and the shortest one by default. */
const FIRST_SPAN_NS = 60_000_000_000n;
const MIN_SPAN_NS = 1_000_000n;

/**
 * The pages of one time chunk, read one after another by its own loop, at most
 * `maxAhead` pages ahead of the sender.
 */
class Chunk {
  private readonly pages: HistoryAnswer[] = [];
  private done = false;
  private error: unknown = null;
  private wake: (() => void) | null = null;
  private room: (() => void) | null = null;
  private stopped = false;
  /** Flows read so far */
  flows = 0;

  constructor(
    private readonly read: ReadPage,
    private readonly since: FlowTime,
    private readonly until: FlowTime,
    after: FlowPosition | null,
    private readonly maxAhead: number,
    /** Nanoseconds of time it covers (beyond a position it starts from) */
    readonly spanNs: bigint,
  ) {
    void this.run(after);
  }

  private async run(after: FlowPosition | null): Promise<void> {
    try {
      do {
        while (this.pages.length >= this.maxAhead && !this.stopped) await new Promise<void>((r) => (this.room = r));
        if (this.stopped) break;
        const page = await this.read(this.since, this.until, after);
        this.flows += page.count;
        this.pages.push(page);
        this.signal();
        after = page.next;
      } while (after && !this.stopped);
    } catch (err) {
      this.error = err;
    }
    this.done = true;
    this.signal();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Its next page, in order; null once it has none left. Throws what a read threw. */
  async take(): Promise<HistoryAnswer | null> {
    for (;;) {
      const page = this.pages.shift();
      if (page) {
        const room = this.room;
        this.room = null;
        room?.();
        return page;
      }
      if (this.error) throw this.error;
      if (this.done) return null;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  stop(): void {
    this.stopped = true;
    const room = this.room;
    this.room = null;
    room?.();
  }
}

function timeOf(page: HistoryAnswer, i: number): bigint {
  return toNanos({ seconds: page.seconds[i], nanos: page.nanos[i] });
}

/** A chunk span that should hold `want` flows, from `flows` found over `span` (growth and shrinking bounded). */
function resized(span: bigint, flows: number, want: number, min: bigint): bigint {
  const next = flows === 0 ? span * 4n : (span * BigInt(want)) / BigInt(flows);
  const bounded = next > span * 4n ? span * 4n : next < span / 4n ? span / 4n : next;
  return bounded < min ? min : bounded;
}

/**
 * Every page of [since, until] in time order, read by several query threads at
 * once: the first page alone (a short answer costs one query, as before), then
 * the rest as consecutive chunks of time, up to `lanes` of them read at the
 * same time, each sized to hold about `chunkFlows` flows. Flows of one
 * nanosecond never straddle two chunks, so the order is the one a single
 * cursor gives. `stopped` ends it early (chunks being read stop after their
 * current page).
 */
export async function* historyPages(read: ReadPage, since: FlowTime, until: FlowTime, options: HistoryPagesOptions, stopped: () => boolean): AsyncGenerator<HistoryAnswer> {
  const first = await read(since, until, null);
  yield first;
  if (!first.next || stopped()) return;
  const end = toNanos(until);
  // Where the first page ended, and how long a chunk of `chunkFlows` flows lasts at its density.
  const lastNs = first.count > 0 ? timeOf(first, first.count - 1) : toNanos(since);
  const minSpan = options.minSpanNs ?? MIN_SPAN_NS;
  let span = first.count > 1 ? resized(lastNs - timeOf(first, 0) + 1n, first.count, options.chunkFlows, minSpan) : FIRST_SPAN_NS;
  const chunks: Chunk[] = [];
  let nextStart: bigint;
  const start = (from: FlowTime, after: FlowPosition | null, fromNs: bigint): void => {
    const to = fromNs + span - 1n < end ? fromNs + span - 1n : end;
    chunks.push(new Chunk(read, from, fromNanos(to), after, options.maxAhead, to - fromNs + 1n));
    nextStart = to + 1n;
  };
  // The first chunk goes on from the first page's position.
  start(since, first.next, lastNs);
  try {
    for (;;) {
      while (chunks.length < options.lanes && nextStart! <= end) start(fromNanos(nextStart!), null, nextStart!);
      if (chunks.length === 0 || stopped()) return;
      const page = await chunks[0].take();
      if (page === null) {
        const done = chunks.shift()!;
        span = resized(done.spanNs, done.flows, options.chunkFlows, minSpan);
        continue;
      }
      yield page;
    }
  } finally {
    for (const c of chunks) c.stop();
  }
}

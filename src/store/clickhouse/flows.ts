import { scanEnvelope } from '../../flows/envelope.js';
import { decodeFlowRecord } from '../../flows/normalize.js';
import type { FlowRow } from '../../flows/row.js';
import { scanFlow } from '../../flows/scan.js';
import type { Interner } from '../../flows/scan.js';
import type { FlowRecord, FlowTime } from '../../flows/record.js';
import type { Deadline } from '../../query/deadline.js';
import type { FilterSet } from '../../query/filter.js';
import { MINUTE_NS, toNanos } from '../../query/time.js';
import type { ClickHouseHttp } from './http.js';
import { RowBinaryReader } from './row-binary.js';
import { clickhouseWhere } from './where.js';
import { readTables } from './cluster.js';
import { CLICKHOUSE_ROLLUPS } from './aggregate.js';
import { rollupCondition } from '../../query/aggregate.js';

import type { ClickHousePosition } from '../../query/position.js';

export type { ClickHousePosition } from '../../query/position.js';

export interface ClickHouseFlowQuery<T> {
  filters: FilterSet;
  since: FlowTime;
  until: FlowTime;
  order: 'asc' | 'desc';
  limit: number;
  after: ClickHousePosition | null;
  deadline: Deadline;
  /** What each matching flow becomes (a flow it throws on is skipped) */
  read: (flow: RawFlow) => T;
  signal?: AbortSignal;
}

export interface ClickHouseFlowPage<T> {
  flows: T[];
  next: ClickHousePosition | null;
  /** Rows read from ClickHouse (before the filter's own judgement) */
  scanned: number;
  truncated: boolean;
}

/** A stored flow as a page reads it: the GetFlowsResponse as stored, and its record decoded on first use (throws when it cannot be). */
export class RawFlow {
  private decoded: FlowRecord | null = null;

  constructor(
    readonly response: Buffer,
    readonly timeNs: bigint,
  ) {}

  record(): FlowRecord {
    if (this.decoded) return this.decoded;
    const record = decodeFlowRecord(this.response);
    if (!record) throw new Error('stored response holds no flow');
    return (this.decoded = record);
  }

  /** Its record, or null when it cannot be decoded. */
  readableRecord(): FlowRecord | null {
    try {
      return this.record();
    } catch {
      return null;
    }
  }

  /** Its row as the wire scanner reads it with `interner`, or null when its bytes cannot be read. */
  row(interner: Interner): FlowRow | null {
    try {
      const env = scanEnvelope(this.response, 0, this.response.length);
      return scanFlow(this.response, env.start, env.end, interner);
    } catch {
      return null;
    }
  }
}

/** Flows read per page where a whole range is visited. */
const VISIT_PAGE = 10_000;

/**
 * Visits every matching flow of a range, oldest first, page by page: until
 * `visit` returns false ('stopped'), the range ends ('done') or the deadline
 * passes ('deadline'; the flows of the page it cut short were visited).
 */
export async function visitRange(
  ch: ClickHouseHttp,
  q: Pick<ClickHouseFlowQuery<unknown>, 'filters' | 'since' | 'until' | 'deadline'>,
  visit: (flow: RawFlow) => boolean,
): Promise<'done' | 'stopped' | 'deadline'> {
  let after: ClickHousePosition | null = null;
  for (;;) {
    const page: ClickHouseFlowPage<RawFlow> = await queryClickHouseFlows(ch, { ...q, order: 'asc', limit: VISIT_PAGE, after, read: (flow) => flow });
    for (const flow of page.flows) if (!visit(flow)) return 'stopped';
    if (page.truncated) return 'deadline';
    if (!page.next) return 'done';
    if (q.deadline.passed()) return 'deadline';
    after = page.next;
  }
}

/** Rows fetched per round trip beyond what the page still needs (rows the filter turns down cost another trip). */
const MIN_CHUNK = 1_000;

/** Shortest time window a page reads (ns); a window that comes back short of the page doubles the next. */
const FIRST_WINDOW_NS = 60_000_000_000n;

/**
 * A page of flows from ClickHouse in time order: the filter's narrowing
 * condition selects candidate rows, each is decoded from its stored response
 * and judged by the filter itself, and reading goes on (chunk by chunk, after
 * the last row seen) until `limit` flows are found, the range ends, or the
 * deadline passes (then with a position to continue from). The range is read
 * in time windows from the end the page starts at, a minute first and twice
 * as long each time one falls short: ClickHouse sorts what a statement
 * selects, so "the newest 100 of a day" must not select the whole day.
 */
export async function queryClickHouseFlows<T>(ch: ClickHouseHttp, q: ClickHouseFlowQuery<T>): Promise<ClickHouseFlowPage<T>> {
  const desc = q.order === 'desc';
  const dir = desc ? 'DESC' : 'ASC';
  const cmp = desc ? '<' : '>';
  const { sql: where, exact } = clickhouseWhere(q.filters);
  const table = readTables(ch.settings).flows;
  const flows: T[] = [];
  let after = q.after;
  let scanned = 0;
  const since = toNanos(q.since);
  const until = toNanos(q.until);
  // The part of the range not read yet: [lo, hi], shrinking from the page's end.
  let lo = after && !desc ? BigInt(after.timeNs) : since;
  let hi = after && desc ? BigInt(after.timeNs) : until;
  let window = FIRST_WINDOW_NS;
  const positionOf = (p: ClickHousePosition | null): string => (p ? ` AND (time_ns ${cmp} ${p.timeNs} OR (time_ns = ${p.timeNs} AND seq ${cmp} ${p.seq}))` : '');
  // Where the filter is one the rollups answer, they say how far back (or on) the page's flows reach, minute by minute.
  let planned = await rollupPlan(ch, q, lo, hi);
  while (lo <= hi) {
    let a: bigint;
    let b: bigint;
    if (planned) {
      [a, b] = planned;
      planned = null;
    } else {
      // A window starts at the next candidate row, so sparse stretches of the range cost one statement, not one per window.
      const [edge] = await ch.rows<{ t: string; n: string }>(`SELECT ${desc ? 'max' : 'min'}(time_ns) AS t, count() AS n FROM ${table} WHERE time_ns >= ${lo} AND time_ns <= ${hi}${positionOf(after)} AND ${where}`);
      if (!edge || edge.n === '0') break;
      if (desc) hi = BigInt(edge.t);
      else lo = BigInt(edge.t);
      // The candidates' density sizes the window: enough for the rest of the page if they are spread evenly, and half again.
      const needed = BigInt(q.limit - flows.length);
      const candidates = BigInt(edge.n);
      const span = hi - lo + 1n;
      const even = candidates <= needed ? span : (span * needed * 3n) / (2n * candidates);
      if (even > window) window = even;
      [a, b] = desc ? [hi - window + 1n > lo ? hi - window + 1n : lo, hi] : [lo, lo + window - 1n < hi ? lo + window - 1n : hi];
    }
    let windowRows = 0;
    for (;;) {
      const chunk = Math.max(MIN_CHUNK, q.limit - flows.length);
      const sql = `SELECT time_ns, seq, response FROM ${table} WHERE time_ns >= ${a} AND time_ns <= ${b}${positionOf(after)} AND ${where} ORDER BY time_ns ${dir}, seq ${dir} LIMIT ${chunk}`;
      const r = new RowBinaryReader(await ch.binary(sql, q.signal));
      let rows = 0;
      while (!r.done) {
        const time = r.uint64();
        const timeNs = time.toString();
        const seq = r.uint64().toString();
        const response = r.bytes();
        rows++;
        after = { timeNs, seq };
        const flow = new RawFlow(response, time);
        try {
          // Rows an exact condition selected need no judging: a flow is decoded only if the reader asks for it.
          if (!exact && !q.filters.match(flow.record())) continue;
          flows.push(q.read(flow));
        } catch {
          // A row that cannot be read back is skipped: it must not fail its page.
          continue;
        }
        if (flows.length >= q.limit) return { flows, next: after, scanned: scanned + rows, truncated: false };
      }
      scanned += rows;
      windowRows += rows;
      if (rows < chunk) break;
      // Out of time (each call reads at least one chunk, so every call makes progress): go on after the last row read.
      if (q.deadline.passed()) return { flows, next: after, scanned, truncated: true };
    }
    if (desc) hi = a - 1n;
    else lo = b + 1n;
    if (q.deadline.passed()) return { flows, next: windowEnd(desc, a, b), scanned, truncated: true };
    if (windowRows < q.limit - flows.length) window *= 2n;
  }
  return { flows, next: null, scanned, truncated: false };
}

/**
 * The first window of a page whose filter the rollups answer exactly: from the
 * page's end back (or on) to the minute by which flows_1m counts `limit`
 * matching flows, or the whole rest of the range when it holds fewer. Reading
 * a few thousand rollup rows replaces counting the raw candidates of the range.
 * Rollup minutes stick out of the range at its ends, so the window may fall
 * short; the page then goes on window by window as without a plan. Null when
 * the rollups cannot answer the filter.
 */
async function rollupPlan(ch: ClickHouseHttp, q: ClickHouseFlowQuery<unknown>, lo: bigint, hi: bigint): Promise<[bigint, bigint] | null> {
  const condition = rollupCondition(q.filters, CLICKHOUSE_ROLLUPS);
  if (condition === null || lo > hi) return null;
  const desc = q.order === 'desc';
  const rows = await ch.rows<{ minute: number; n: string }>(
    `SELECT minute, sum(flows) AS n FROM ${readTables(ch.settings).rollups} WHERE minute >= ${lo / MINUTE_NS} AND minute <= ${hi / MINUTE_NS} AND ${condition} GROUP BY minute ORDER BY minute ${desc ? 'DESC' : 'ASC'}`,
  );
  let counted = 0;
  for (const r of rows) {
    counted += Number(r.n);
    if (counted < q.limit) continue;
    const edge = BigInt(r.minute) * MINUTE_NS;
    return desc ? [edge > lo ? edge : lo, hi] : [lo, edge + MINUTE_NS - 1n < hi ? edge + MINUTE_NS - 1n : hi];
  }
  return [lo, hi];
}

/** A position past every flow of a window (so a page cut off there goes on with the next one). */
function windowEnd(desc: boolean, a: bigint, b: bigint): ClickHousePosition {
  return desc ? { timeNs: a.toString(), seq: '0' } : { timeNs: b.toString(), seq: '18446744073709551615' };
}

import { decodeFlowRecord } from '../../flows/normalize.js';
import type { FlowRecord, FlowTime } from '../../flows/record.js';
import type { Deadline } from '../../query/deadline.js';
import type { FilterSet } from '../../query/filter.js';
import type { ClickHouseHttp } from './http.js';
import { RowBinaryReader } from './row-binary.js';
import { clickhouseWhere } from './where.js';

/** A position in ClickHouse's order of flows: (time in ns, seq), as decimal strings (both need 64 bits). */
export interface ClickHousePosition {
  timeNs: string;
  seq: string;
}

export interface ClickHouseFlowQuery<T> {
  filters: FilterSet;
  since: FlowTime;
  until: FlowTime;
  order: 'asc' | 'desc';
  limit: number;
  after: ClickHousePosition | null;
  deadline: Deadline;
  /** What each matching flow becomes: from its record and the GetFlowsResponse bytes as stored */
  read: (record: FlowRecord, response: Buffer) => T;
  signal?: AbortSignal;
}

export interface ClickHouseFlowPage<T> {
  flows: T[];
  next: ClickHousePosition | null;
  /** Rows read from ClickHouse (before the filter's own judgement) */
  scanned: number;
  truncated: boolean;
}

/** Rows fetched per round trip beyond what the page still needs (rows the filter turns down cost another trip). */
const MIN_CHUNK = 1_000;

function ns(t: FlowTime): string {
  return (BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanos)).toString();
}

/**
 * A page of flows from ClickHouse in time order: the filter's narrowing
 * condition selects candidate rows, each is decoded from its stored response
 * and judged by the filter itself, and reading goes on (chunk by chunk, after
 * the last row seen) until `limit` flows are found, the range ends, or the
 * deadline passes (then with a position to continue from).
 */
export async function queryClickHouseFlows<T>(ch: ClickHouseHttp, q: ClickHouseFlowQuery<T>): Promise<ClickHouseFlowPage<T>> {
  const desc = q.order === 'desc';
  const dir = desc ? 'DESC' : 'ASC';
  const cmp = desc ? '<' : '>';
  const where = clickhouseWhere(q.filters);
  const flows: T[] = [];
  let after = q.after;
  let scanned = 0;
  for (;;) {
    const chunk = Math.max(MIN_CHUNK, q.limit - flows.length);
    const position = after ? ` AND (time_ns ${cmp} ${after.timeNs} OR (time_ns = ${after.timeNs} AND seq ${cmp} ${after.seq}))` : '';
    const sql = `SELECT time_ns, seq, response FROM flows WHERE time_ns >= ${ns(q.since)} AND time_ns <= ${ns(q.until)}${position} AND ${where} ORDER BY time_ns ${dir}, seq ${dir} LIMIT ${chunk}`;
    const r = new RowBinaryReader(await ch.binary(sql, q.signal));
    let rows = 0;
    while (!r.done) {
      const timeNs = r.uint64().toString();
      const seq = r.uint64().toString();
      const response = r.bytes();
      rows++;
      after = { timeNs, seq };
      let record: FlowRecord | null = null;
      try {
        record = decodeFlowRecord(response);
      } catch {
        // A row that cannot be read back is skipped: it must not fail its page.
      }
      if (!record || !q.filters.match(record)) continue;
      flows.push(q.read(record, response));
      if (flows.length >= q.limit) return { flows, next: after, scanned: scanned + rows, truncated: false };
    }
    scanned += rows;
    if (rows < chunk) return { flows, next: null, scanned, truncated: false };
    if (q.deadline.passed()) return { flows, next: after, scanned, truncated: true };
  }
}

import type { Deadline } from '../../query/deadline.js';
import type { DictionaryLookup, StoredRow } from '../../flows/materialize.js';
import { rowToRecord } from '../../flows/materialize.js';
import type { FlowRecord } from '../../flows/record.js';
import type { SqlFragment } from '../../query/model.js';
import { PARTITION_ROWIDS, ROWID_SLOTS, listPartitions, partitionOf, rowidOf, tableName, timeOfRowid } from './partitions.js';
import type { ReaderDictionary } from './reader.js';
import type { Db } from './sqlite.js';
import type { Statement } from 'better-sqlite3';
import { ROW_SELECT, selectRows } from './row-select.js';
import type { FlowTime } from '../../flows/record.js';

import type { RowPosition } from '../../query/position.js';

/** Turns a stored row into what a query returns; null skips the row (one that cannot be read back). `record` is its FlowRecord when a re-check already built it. */
export type RowReader<T> = (row: StoredRow, dict: DictionaryLookup, record?: FlowRecord) => T | null;

export interface FlowQuery<T = FlowRecord> {
  where: SqlFragment;
  /** Re-check of each row when `where` is only a superset of the answer. */
  recheck: ((flow: FlowRecord) => boolean) | null;
  since: FlowTime;
  until: FlowTime;
  order: 'asc' | 'desc';
  limit: number;
  after: RowPosition | null;
  /** Stop scanning when it passes and return what was found (with a cursor to go on). */
  deadline: Deadline;
  /** What each row becomes; by default its FlowRecord. */
  read?: RowReader<T>;
}

export interface FlowPage<T = FlowRecord> {
  flows: T[];
  /** Position to continue after for the next page. Null when done. */
  next: RowPosition | null;
  scanned: number;
  /** True when the scan stopped at the deadline before finding `limit` flows. */
  truncated: boolean;
}

/** Prepares a statement on a partition, or null when retention dropped it since the partitions were listed. */
export function prepareOnPartition(db: Db, sql: string): Statement | null {
  return onPartition(() => db.prepare(sql), null);
}

/** Runs `read` on a partition; `gone` when retention dropped the partition meanwhile (readers never fail on that). */
export function onPartition<T, G>(read: () => T, gone: G): T | G {
  try {
    return read();
  } catch (err) {
    if (/no such table: flows_/.test((err as Error).message)) return gone;
    throw err;
  }
}

/** The row as a flow, or null when it cannot be read back (a damaged row must not fail its page). */
export function readableRecord(r: StoredRow, dict: DictionaryLookup): FlowRecord | null {
  return readable(rowToRecord, r, dict);
}

function readable<T>(read: RowReader<T>, r: StoredRow, dict: DictionaryLookup, record?: FlowRecord): T | null {
  try {
    return read(r, dict, record);
  } catch {
    return null;
  }
}

/** What a row of the query yields: the re-check runs on its record; the answer is the record or what `read` makes of the row. */
function answerOf<T>(q: FlowQuery<T>, r: StoredRow, dict: DictionaryLookup): T | null {
  if (!q.recheck && q.read) return readable(q.read, r, dict);
  const record = readableRecord(r, dict);
  if (record === null || (q.recheck && !q.recheck(record))) return null;
  return q.read ? readable(q.read, r, dict, record) : (record as T);
}

/** Rows fetched per SQL round trip when rows still need a JS re-check. */
const RECHECK_CHUNK = 512;
/** Rows re-checked in JS (CEL, regexes) between deadline checks, minus one (a mask); raw aggregates use it too. */
export const RECHECK_DEADLINE_EVERY = 3;

/**
 * Splits a partition's rowid range into time slices sized so one SQL statement
 * runs for about TARGET_MS: the deadline is then checked often even inside a
 * huge partition, while sparse scans still take few statements.
 */
export class AdaptiveSlicer {
  static readonly TARGET_MS = 20;

  /** Spans are in the caller's unit: rowids by default, or minutes for rollups. */
  constructor(
    private span = 10 * 1e9 * ROWID_SLOTS,
    private readonly minSpan = MIN_SPAN,
    private readonly maxSpan = MAX_SPAN,
  ) {}

  /** The next slice of [lo, hi) to scan, from the low end (asc) or the high end (desc). */
  next(lo: number, hi: number, desc: boolean): [number, number] {
    return desc ? [Math.max(lo, hi - this.span), hi] : [lo, Math.min(hi, lo + this.span)];
  }

  /**
   * Walks [lo, hi) upwards in slices, calling `beforeEach` first (a deadline
   * check) and timing the caller's work on each slice to size the next one.
   */
  *slices(lo: number, hi: number, beforeEach: () => void): Generator<[number, number]> {
    while (lo < hi) {
      beforeEach();
      const started = performance.now();
      const slice = this.next(lo, hi, false);
      yield slice;
      lo = slice[1];
      this.took(performance.now() - started);
    }
  }

  /** Grows or shrinks the span from how long the last slice took. */
  took(ms: number): void {
    if (ms < AdaptiveSlicer.TARGET_MS / 2) this.span = Math.min(this.span * 2, Math.max(this.maxSpan, this.minSpan));
    else if (ms > AdaptiveSlicer.TARGET_MS * 2) this.span = Math.max(Math.floor(this.span / 2), this.minSpan);
  }
}
const MAX_SPAN = PARTITION_ROWIDS;
const MIN_SPAN = 1e6 * ROWID_SLOTS;

/**
 * Runs a filtered, time-bounded query over the hourly partitions in time order,
 * stopping as soon as `limit` flows are found, or at the deadline (checked
 * between slices of a partition) with a cursor to continue from.
 */
export function runFlowQuery<T = FlowRecord>(db: Db, dict: ReaderDictionary, q: FlowQuery<T>): FlowPage<T> {
  const desc = q.order === 'desc';
  const lastHour = partitionOf(q.until.seconds);
  const firstHour = partitionOf(q.since.seconds);
  let hours = listPartitions(db).filter((h) => h >= firstHour && h <= lastHour);
  if (desc) hours.reverse();
  if (q.after) hours = hours.filter((h) => (desc ? h <= q.after!.hour : h >= q.after!.hour));
  const flows: T[] = [];
  const slicer = new AdaptiveSlicer();
  let scanned = 0;
  let sliced = false;
  let rechecked = 0;
  for (const hour of hours) {
    let lo = rowidOf(hour, q.since.seconds, q.since.nanos);
    let hi = rowidOf(hour, q.until.seconds, q.until.nanos + 1);
    if (q.after && q.after.hour === hour) {
      if (desc) hi = Math.min(hi, q.after.id);
      else lo = Math.max(lo, q.after.id + 1);
    }
    const stmt = prepareOnPartition(db, `SELECT ${ROW_SELECT} FROM ${tableName(hour)} WHERE id >= ? AND id < ? AND ${q.where.sql} ORDER BY id ${desc ? 'DESC' : 'ASC'} LIMIT ?`);
    if (!stmt) continue;
    while (lo < hi) {
      // Out of time (after at least one slice, so every call makes progress): continue from here.
      if (sliced && q.deadline.passed()) return { flows, next: desc ? { hour, id: hi } : { hour, id: lo - 1 }, scanned, truncated: true };
      sliced = true;
      const started = performance.now();
      const [sliceLo, sliceHi] = slicer.next(lo, hi, desc);
      let a = sliceLo;
      let b = sliceHi;
      for (;;) {
        const want = q.recheck ? RECHECK_CHUNK : q.limit - flows.length;
        const rows = onPartition(() => selectRows(stmt, [a, b, ...q.where.params, want]), []);
        scanned += rows.length;
        for (const r of rows) {
          // Re-checking rows in JS (CEL, regexes) can cost milliseconds each: keep to the deadline within a chunk too.
          if (q.recheck && (++rechecked & RECHECK_DEADLINE_EVERY) === 0 && q.deadline.passed()) {
            return { flows, next: desc ? { hour, id: b } : { hour, id: a - 1 }, scanned, truncated: true };
          }
          if (desc) b = r.id;
          else a = r.id + 1;
          const t = timeOfRowid(hour, r.id);
          r.seconds = t.seconds;
          r.nanos = t.nanos;
          // A row that cannot be read back is skipped: it must not fail its page.
          const flow = answerOf(q, r, dict);
          if (flow === null) continue;
          flows.push(flow);
          if (flows.length >= q.limit) return { flows, next: { hour, id: r.id }, scanned, truncated: false };
        }
        if (rows.length < want) break;
        if (q.deadline.passed()) {
          // Mid-slice: the cursor sits after the last row looked at.
          return { flows, next: desc ? { hour, id: b } : { hour, id: a - 1 }, scanned, truncated: true };
        }
      }
      if (desc) hi = sliceLo;
      else lo = sliceHi;
      slicer.took(performance.now() - started);
    }
  }
  return { flows, next: null, scanned, truncated: false };
}

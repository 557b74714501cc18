import type { StoredRow } from '../flows/materialize.js';
import { rowToRecord } from '../flows/materialize.js';
import type { FlowRecord } from '../flows/record.js';
import type { SqlFragment } from '../query/model.js';
import { listPartitions, partitionOf, rowidOf, tableName, timeOfRowid } from './partitions.js';
import type { ReaderDictionary } from './reader.js';
import type { Db } from './sqlite.js';
import type { FlowTime } from './writer.js';

/** A position in the store's total order of flows (partition hour, rowid). */
export interface FlowPosition {
  hour: number;
  id: number;
}

export interface FlowQuery {
  where: SqlFragment;
  /** Re-check of each row when `where` is only a superset of the answer. */
  recheck: ((flow: FlowRecord) => boolean) | null;
  since: FlowTime;
  until: FlowTime;
  order: 'asc' | 'desc';
  limit: number;
  after: FlowPosition | null;
  /** Stop scanning at this performance.now() time and return what was found (with a cursor to go on). */
  deadline: number;
}

export interface FlowPage {
  flows: FlowRecord[];
  /** Position to continue after for the next page. Null when done. */
  next: FlowPosition | null;
  scanned: number;
  /** True when the scan stopped at the deadline before finding `limit` flows. */
  truncated: boolean;
}

/** Rows fetched per SQL round trip when rows still need a JS re-check. */
const RECHECK_CHUNK = 512;

/**
 * Runs a filtered, time-bounded query over the hourly partitions in time order,
 * stopping as soon as `limit` flows are found.
 */
export function runFlowQuery(db: Db, dict: ReaderDictionary, q: FlowQuery): FlowPage {
  const desc = q.order === 'desc';
  const lastHour = partitionOf(q.until.seconds);
  const firstHour = partitionOf(q.since.seconds);
  let hours = listPartitions(db).filter((h) => h >= firstHour && h <= lastHour);
  if (desc) hours.reverse();
  if (q.after) hours = hours.filter((h) => (desc ? h <= q.after!.hour : h >= q.after!.hour));
  const flows: FlowRecord[] = [];
  let next: FlowPosition | null = null;
  let scanned = 0;
  let scannedTo: FlowPosition | null = null;
  for (const hour of hours) {
    let lo = Math.max(0, rowidOf(hour, q.since.seconds, q.since.nanos));
    let hi = rowidOf(hour, q.until.seconds, q.until.nanos + 1);
    if (q.after && q.after.hour === hour) {
      if (desc) hi = Math.min(hi, q.after.id);
      else lo = Math.max(lo, q.after.id + 1);
    }
    const sql = `SELECT * FROM ${tableName(hour)} WHERE id >= ? AND id < ? AND ${q.where.sql} ORDER BY id ${desc ? 'DESC' : 'ASC'} LIMIT ?`;
    const stmt = db.prepare(sql);
    while (flows.length < q.limit) {
      const want = q.recheck ? RECHECK_CHUNK : q.limit - flows.length;
      const rows = stmt.all(lo, hi, ...q.where.params, want) as (StoredRow & { id: number })[];
      scanned += rows.length;
      for (const r of rows) {
        scannedTo = { hour, id: r.id };
        const t = timeOfRowid(hour, r.id);
        r.seconds = t.seconds;
        r.nanos = t.nanos;
        const flow = rowToRecord(r, dict);
        if (desc) hi = r.id;
        else lo = r.id + 1;
        if (q.recheck && !q.recheck(flow)) continue;
        flows.push(flow);
        next = { hour, id: r.id };
        if (flows.length >= q.limit) break;
      }
      if (rows.length < want) break;
      if (performance.now() > q.deadline) break;
    }
    if (flows.length >= q.limit) return { flows, next, scanned, truncated: false };
    // This partition is exhausted: a cursor from here on must skip all of it, even if no row matched.
    scannedTo = desc ? { hour, id: lo } : { hour, id: hi - 1 };
    // Out of time: hand back a cursor at the last row looked at, so the client can go on.
    if (performance.now() > q.deadline) return { flows, next: scannedTo ?? next, scanned, truncated: true };
  }
  return { flows, next: null, scanned, truncated: false };
}

import type { Db } from './sqlite.js';

export const SECONDS_PER_PARTITION = 3600;
/** rowid = nanoseconds into the hour * ROWID_SLOTS + collision counter (fits 2^53). */
export const ROWID_SLOTS = 2048;
const NS_PER_SECOND = 1e9;

export function partitionOf(seconds: number): number {
  return Math.floor(seconds / SECONDS_PER_PARTITION);
}

export function tableName(hour: number): string {
  if (!Number.isSafeInteger(hour)) throw new RangeError(`bad partition hour ${hour}`);
  return `flows_${hour}`;
}

/** One past the largest rowid a partition can hold. */
export const PARTITION_ROWIDS = SECONDS_PER_PARTITION * NS_PER_SECOND * ROWID_SLOTS;

/** First rowid of flows at (seconds, nanos) within partition `hour`, clamped to the partition's rowid range. */
export function rowidOf(hour: number, seconds: number, nanos: number): number {
  const id = ((seconds - hour * SECONDS_PER_PARTITION) * NS_PER_SECOND + nanos) * ROWID_SLOTS;
  return Math.min(Math.max(id, 0), PARTITION_ROWIDS);
}

/** Flow time of a rowid in partition `hour`. */
export function timeOfRowid(hour: number, rowid: number): { seconds: number; nanos: number } {
  const offsetNs = Math.floor(rowid / ROWID_SLOTS);
  const s = Math.floor(offsetNs / NS_PER_SECOND);
  return { seconds: hour * SECONDS_PER_PARTITION + s, nanos: offsetNs - s * NS_PER_SECOND };
}

/** Partitions known to the store, oldest first. */
export function listPartitions(db: Db): number[] {
  return db.prepare('SELECT hour FROM partitions ORDER BY hour').pluck().all() as number[];
}

/** Creates the hourly table from partition_template (the schema lives in migrations/), with class rows kept from its first flow. */
export function createPartition(db: Db, hour: number): void {
  const ddl = db.prepare('SELECT sql FROM partition_template ORDER BY seq').pluck().all() as string[];
  db.transaction(() => {
    for (const sql of ddl) db.exec(sql.replaceAll('{hour}', String(hour)));
    db.prepare('INSERT INTO partitions (hour, created_at, classes) VALUES (?, ?, 1)').run(hour, Date.now());
  })();
}

export function dropPartition(db: Db, hour: number): void {
  db.transaction(() => {
    db.exec(`DROP TABLE IF EXISTS ${tableName(hour)}`);
    db.prepare('DELETE FROM partitions WHERE hour = ?').run(hour);
    db.prepare('DELETE FROM partition_nodes WHERE hour = ?').run(hour);
    db.prepare('DELETE FROM flow_classes WHERE hour = ?').run(hour);
  })();
}

/** Bytes the database uses (pages in use, not free-list pages). */
export function usedBytes(db: Db): number {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return (pages - free) * pageSize;
}

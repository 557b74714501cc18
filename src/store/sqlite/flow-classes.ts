import type { FlowRecord, FlowTime } from '../../flows/record.js';
import { RowBits } from '../../flows/row.js';
import { PARTITION_ROWIDS, partitionOf, rowidOf, tableName, timeOfRowid } from './partitions.js';
import { classFieldsOfStored, classKeyOf } from '../class-key.js';
import { onPartition, prepareOnPartition, readableRecord } from './flow-query.js';
import { ROW_SELECT, unpackRow } from './row-select.js';
import type { ReaderDictionary } from './reader.js';
import type { Db } from './sqlite.js';
import type { Statement } from 'better-sqlite3';
import type { FlowClass, FlowClasses, FlowClassQuery } from '../flow-classes.js';

/**
 * Flows grouped into classes that any policy judges alike (classKeyOf: same
 * endpoints, addresses, protocol, service port, ICMP type, L7 record, DNS
 * names, services, verdict and event). Policy replay evaluates one sample per
 * class instead of every flow. An hour the range covers whole is read from
 * flow_classes, which the writer keeps (a few hundred rows where the hour holds
 * tens of thousands of flows); other hours are grouped by SQLite, one GROUP BY
 * per hour.
 */

/** Ids that come in pairs, source then destination: endpoints, addresses, DNS names, services. */
const ID_PAIRS: [string, string][] = [['src_ep', 'dst_ep'], ['src_ip', 'dst_ip'], ['src_names', 'dst_names'], ['src_service', 'dst_service']];

/**
 * Small enums and the service port (the source port of a reply) packed into one
 * integer, with a bit for each nullable one that is NULL (classKeyOf tells an
 * absent value from 0).
 */
function packedEnums(): string {
  const replyBits = RowBits.IsReplyPresent | RowBits.IsReplyValue;
  const port = `CASE WHEN (bits & ${replyBits}) = ${replyBits} THEN src_port ELSE dst_port END`;
  return `(verdict | (ifnull(drop_reason, 0) << 8) | (ifnull(event_type, 0) << 16) | (ifnull(direction, 0) << 24) | ((bits & ${replyBits}) << 26) | (l4 << 28) | (ifnull(l7_type, 0) << 32) | (ifnull(icmp_type, 0) << 36) | (ifnull(${port}, 0) << 44)`
    + ` | ((event_type IS NULL) << 60) | ((l7_type IS NULL) << 61) | ((icmp_type IS NULL) << 62) | ((${port} IS NULL) << 63))`;
}

/**
 * What SQL groups by: the packed enums, the L7 record, the ids, and headers when
 * a rule looks at them (they are unique per request). SQLite groups by sorting,
 * and sorts fastest on few integer expressions that the query does not return,
 * so a group's key is read afterwards from its first row. While every id fits
 * in 31 bits, each pair is packed into one integer: six expressions sort about a
 * sixth faster than ten.
 */
function groupColumns(withHeaders: boolean, packPairs: boolean): string[] {
  const ids = packPairs ? ID_PAIRS.map(([a, b]) => `((ifnull(${a}, 0) << 32) | ifnull(${b}, 0))`) : ID_PAIRS.flat();
  return [packedEnums(), 'l7_record', ...ids, ...(withHeaders ? ['l7_headers'] : [])];
}

/** Ids may be packed in pairs while none needs more than 31 bits (dictionary and endpoint ids grow from 1). */
function idsFitPairs(db: Db): boolean {
  const top = db.prepare('SELECT max((SELECT ifnull(max(id), 0) FROM dict), (SELECT ifnull(max(id), 0) FROM endpoints))').pluck().get() as number;
  return top < 2 ** 31;
}

interface Pending {
  hour: number;
  id: number;
  flows: number;
  first: FlowTime;
  last: FlowTime;
  record: FlowRecord | null;
}

const RECHECK_DEADLINE_ROWS = 256;

/** Whether [since, until] (until inclusive) covers every flow time of partition `hour`. */
function coversHour(hour: number, since: FlowTime, until: FlowTime): boolean {
  return rowidOf(hour, since.seconds, since.nanos) === 0 && rowidOf(hour, until.seconds, until.nanos + 1) >= PARTITION_ROWIDS;
}

export function scanFlowClasses(db: Db, dict: ReaderDictionary, q: FlowClassQuery): FlowClasses {
  const partitions = db.prepare('SELECT hour, classes = 1 AND class_flows = flows FROM partitions WHERE hour >= ? AND hour <= ? ORDER BY hour')
    .raw(true).all(partitionOf(q.since.seconds), partitionOf(q.until.seconds)) as [number, number][];
  const byKey = new Map<string, Pending>();
  let flows = 0;
  const columns = groupColumns(q.withHeaders, idsFitPairs(db));
  const add = (key: string, hour: number, firstId: number, lastId: number, n: number, record: FlowRecord | null): boolean => {
    const seen = byKey.get(key);
    if (seen) {
      seen.flows += n;
      seen.last = timeOfRowid(hour, lastId);
      return true;
    }
    if (byKey.size >= q.maxClasses) return false;
    byKey.set(key, { hour, id: firstId, flows: n, first: timeOfRowid(hour, firstId), last: timeOfRowid(hour, lastId), record });
    return true;
  };
  let truncated: FlowClasses['truncated'] = null;
  let readUntil: FlowTime | null = null;
  const classRows = q.classWhere && {
    stmt: db.prepare(`SELECT key, first_id, last_id, flows FROM flow_classes WHERE hour = ? AND ${q.classWhere.sql}`).raw(true),
    params: q.classWhere.params,
  };
  for (const [hour, hasClasses] of partitions) {
    if (q.deadline.passed()) {
      truncated = 'deadline';
      readUntil = { seconds: hour * 3600, nanos: 0 };
      break;
    }
    const lo = rowidOf(hour, q.since.seconds, q.since.nanos);
    const hi = rowidOf(hour, q.until.seconds, q.until.nanos + 1);
    const params = [lo, hi, ...q.where.params];
    if (classRows && hasClasses === 1 && coversHour(hour, q.since, q.until)) {
      for (const [key, firstId, lastId, n] of classRows.stmt.all(hour, ...classRows.params) as [string, number, number, number][]) {
        flows += n;
        if (!add(key, hour, firstId, lastId, n, null)) truncated = 'classes';
      }
    } else if (q.recheck === null) {
      const stmt = prepareOnPartition(db, `SELECT min(id), max(id), count(*) FROM ${tableName(hour)} WHERE id >= ? AND id < ? AND ${q.where.sql} GROUP BY ${columns.join(', ')} ORDER BY 1`);
      const firstRow = prepareOnPartition(db, `SELECT ${ROW_SELECT} FROM ${tableName(hour)} WHERE id = ?`);
      if (!stmt || !firstRow) continue;
      const rows = onPartition(() => stmt.raw(true).all(...params) as [number, number, number][], []);
      for (const [firstId, lastId, n] of rows) {
        const raw = onPartition(() => firstRow.raw(true).get(firstId) as unknown[] | undefined, undefined);
        if (raw === undefined) continue;
        flows += n;
        if (!add(classKeyOf(classFieldsOfStored(unpackRow(raw)), q.withHeaders), hour, firstId, lastId, n, null)) truncated = 'classes';
      }
    } else {
      const stmt = prepareOnPartition(db, `SELECT ${ROW_SELECT} FROM ${tableName(hour)} WHERE id >= ? AND id < ? AND ${q.where.sql} ORDER BY id`);
      if (!stmt) continue;
      let rowsSeen = 0;
      for (const raw of onPartition(() => stmt.raw(true).iterate(...params) as IterableIterator<unknown[]>, [][Symbol.iterator]())) {
        const r = unpackRow(raw);
        if (++rowsSeen % RECHECK_DEADLINE_ROWS === 0 && q.deadline.passed()) {
          truncated = 'deadline';
          readUntil = timeOfRowid(hour, r.id);
          break;
        }
        Object.assign(r, timeOfRowid(hour, r.id));
        const record = readableRecord(r, dict);
        if (record === null || !q.recheck(record)) continue;
        flows++;
        if (!add(classKeyOf(classFieldsOfStored(r), q.withHeaders), hour, r.id, r.id, 1, record)) truncated = 'classes';
      }
    }
    if (truncated) {
      readUntil ??= { seconds: (hour + 1) * 3600, nanos: 0 };
      break;
    }
  }
  const classes: FlowClass[] = [];
  const samples = new Map<number, Statement | null>();
  const sampleOf = (c: Pending): FlowRecord | null => {
    if (!samples.has(c.hour)) samples.set(c.hour, prepareOnPartition(db, `SELECT ${ROW_SELECT} FROM ${tableName(c.hour)} WHERE id = ?`));
    const stmt = samples.get(c.hour);
    const raw = stmt ? onPartition(() => stmt.raw(true).get(c.id) as unknown[] | undefined, undefined) : undefined;
    if (!raw) return null;
    const r = unpackRow(raw);
    Object.assign(r, timeOfRowid(c.hour, r.id));
    return readableRecord(r, dict);
  };
  for (const [key, c] of byKey) {
    const sample = c.record ?? sampleOf(c);
    if (sample) classes.push({ key, sample, flows: c.flows, first: c.first, last: c.last });
  }
  return { classes, flows, truncated, readUntil };
}

import type { DictKind } from '../../flows/row.js';
import { classKeyOf } from '../class-key.js';
import type { ClassFields } from '../class-key.js';
import type { Interner } from '../../flows/scan.js';
import { ByteKeyCache } from '../../flows/byte-key-cache.js';
import { Deadline } from '../../query/deadline.js';
import type { FlowClassesRequest } from '../../query/engine.js';
import { fromNanos, toNanos } from '../../query/time.js';
import type { FlowClasses, FlowClass } from '../flow-classes.js';
import type { ClickHouseHttp } from './http.js';
import { RawFlow, visitRange } from './flows.js';
import { RowBinaryReader } from './row-binary.js';
import { clickhouseWhere } from './where.js';
import { readTables } from './cluster.js';
import { ENDPOINT_KIND } from './class-hash.js';

/**
 * Ids for the raw byte ranges a class key is made of (endpoints, addresses,
 * names, services, L7 records), as the SQLite store interns them, for one scan.
 */
export class ClassInterner implements Interner {
  private readonly ids = new ByteKeyCache<number>(Number.MAX_SAFE_INTEGER);
  /** What each id stands for (its kind and bytes), for keys that mean the same in every scan */
  private readonly texts: string[] = [''];

  intern(kind: DictKind, buf: Buffer, start: number, end: number): number {
    let id = this.ids.get(buf, start, end, kind);
    if (id === undefined) {
      id = this.texts.push(`${kind}:${buf.toString('base64', start, end)}`) - 1;
      this.ids.set(buf, start, end, id, kind);
    }
    return id;
  }

  /**
   * A class key that means the same in every scan: classKeyOf with the ids
   * this scan handed out replaced by what they stand for. Replay reads time
   * slices in several query threads and merges their classes by key; one
   * scan's ids would make the same class differ between slices (and two
   * classes agree).
   */
  stableKey(row: ClassFields, withHeaders: boolean): string {
    const t = (id: number | null): string => (id === null ? '-' : this.texts[id]);
    const rest = classKeyOf({ ...row, l7Record: null, srcEp: null, dstEp: null, srcIp: null, dstIp: null, srcNames: null, dstNames: null, srcService: null, dstService: null }, withHeaders);
    return `${rest}|${t(row.l7Record)}|${t(row.srcEp)}|${t(row.dstEp)}|${t(row.srcIp)}|${t(row.dstIp)}|${t(row.srcNames)}|${t(row.dstNames)}|${t(row.srcService)}|${t(row.dstService)}`;
  }

  endpoint(buf: Buffer, start: number, end: number): { id: number; workload: number; labelSet: number } {
    return { id: this.intern(ENDPOINT_KIND, buf, start, end), workload: 0, labelSet: 0 };
  }

  node(): { id: number; cluster: number } {
    return { id: 0, cluster: 0 };
  }
}

/**
 * Flow classes for policy replay on ClickHouse. Where ClickHouse can group the
 * range itself (groupedClasses), one statement returns each class's count, first
 * and last time and first flow. Otherwise the range's flows are read in time
 * order (any filter) and grouped by classKeyOf here, from their wire bytes; only
 * each class's first flow (its sample) is decoded. That reads every flow of the
 * range; the budget and class limit stop it as on SQLite.
 */
export async function clickhouseFlowClasses(ch: ClickHouseHttp, req: FlowClassesRequest, cancelFlag: Int32Array | null): Promise<FlowClasses> {
  const deadline = Deadline.in(req.budgetMs, cancelFlag);
  return (await groupedClasses(ch, req, deadline)) ?? scannedClasses(ch, req, deadline);
}

/** Flow classes from a scan of the range's flows, grouped here by classKeyOf. */
export async function scannedClasses(ch: ClickHouseHttp, req: FlowClassesRequest, deadline: Deadline): Promise<FlowClasses> {
  const interner = new ClassInterner();
  const byKey = new Map<string, FlowClass>();
  let flows = 0;
  let lastTime = req.since;
  const ended = await visitRange(ch, { filters: req.filters, since: req.since, until: req.until, deadline }, (flow) => {
    const row = flow.row(interner);
    if (row === null) return true; // a stored flow that cannot be read back is left out, as in a page
    // This scan's ids make the lookup key; a class is published under its stable key.
    const key = classKeyOf(row, req.withHeaders);
    const time = fromNanos(flow.timeNs);
    const seen = byKey.get(key);
    if (seen) {
      seen.flows++;
      seen.last = time;
    } else if (byKey.size >= req.maxClasses) {
      return false;
    } else {
      const sample = flow.readableRecord();
      if (!sample) return true;
      byKey.set(key, { key: interner.stableKey(row, req.withHeaders), sample, flows: 1, first: time, last: time });
    }
    flows++;
    lastTime = time;
    return true;
  });
  const truncated = ended === 'stopped' ? 'classes' : ended === 'deadline' ? 'deadline' : null;
  return { classes: [...byKey.values()], flows, truncated, readUntil: truncated ? lastTime : null };
}

/**
 * Classes grouped by ClickHouse on class_hash (migration 006), or null when it
 * cannot answer alone: a rule looks at HTTP headers (the hash leaves them out),
 * the filter needs each flow judged (clickhouseWhere is not exact), a row of the
 * range predates the column (class_hash 0), there are more classes than asked,
 * or the statement runs past the budget. The caller then reads the flows.
 * A class's sample is its first flow, by (time, seq) as a scan meets it.
 */
export async function groupedClasses(ch: ClickHouseHttp, req: FlowClassesRequest, deadline: Deadline): Promise<FlowClasses | null> {
  if (req.withHeaders) return null;
  const { sql: where, exact } = clickhouseWhere(req.filters);
  if (!exact) return null;
  const table = readTables(ch.settings).flows;
  // ClickHouse stops the statement at the budget (whole seconds, at least one); the scan then answers with what fits.
  const remaining = deadline.at - performance.now();
  const limit = Number.isFinite(remaining) ? ` SETTINGS max_execution_time = ${Math.max(1, Math.floor(remaining / 1000))}` : '';
  let body: Buffer;
  try {
    body = await ch.binary(
      `SELECT class_hash, count(), min(time_ns), max(time_ns), argMin(response, (time_ns, seq)) FROM ${table}`
      + ` WHERE time_ns >= ${toNanos(req.since)} AND time_ns <= ${toNanos(req.until)} AND ${where}`
      + ` GROUP BY class_hash LIMIT ${req.maxClasses + 1}${limit}`,
    );
  } catch (err) {
    if (deadline.passed() || /TIMEOUT_EXCEEDED|Timeout exceeded/i.test((err as Error).message)) return null;
    throw err;
  }
  const rows = new RowBinaryReader(body);
  // Keys are made of what ids stand for, not of the ids, so one interner serves every sample.
  const interner = new ClassInterner();
  const classes: FlowClass[] = [];
  let flows = 0;
  while (!rows.done) {
    const hash = rows.uint64();
    const count = Number(rows.uint64());
    const first = fromNanos(rows.uint64());
    const last = fromNanos(rows.uint64());
    const stored = new RawFlow(rows.bytes(), 0n);
    if (hash === 0n || classes.length >= req.maxClasses) return null;
    const row = stored.row(interner);
    const sample = row ? stored.readableRecord() : null;
    // A stored flow that cannot be read back is left out, as in a scan.
    if (!row || !sample) continue;
    classes.push({ key: interner.stableKey(row, false), sample, flows: count, first, last });
    flows += count;
  }
  return { classes, flows, truncated: null, readUntil: null };
}

import type { DictKind } from '../../flows/row.js';
import { classKeyOf } from '../class-key.js';
import type { ClassFields } from '../class-key.js';
import type { Interner } from '../../flows/scan.js';
import { ByteKeyCache } from '../../flows/byte-key-cache.js';
import { Deadline } from '../../query/deadline.js';
import type { FlowClassesRequest } from '../../query/engine.js';
import { fromNanos } from '../../query/time.js';
import type { FlowClasses, FlowClass } from '../flow-classes.js';
import type { ClickHouseHttp } from './http.js';
import { visitRange } from './flows.js';

/**
 * Ids for the raw byte ranges a class key is made of (endpoints, addresses,
 * names, services, L7 records), as the SQLite store interns them, for one scan.
 */
class ClassInterner implements Interner {
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

/** A seed for endpoints beside the dictionary kinds. */
const ENDPOINT_KIND = 100 as DictKind;
/**
 * Flow classes for policy replay on ClickHouse: the range's flows read in time
 * order (any filter) and grouped by classKeyOf here, from their wire bytes;
 * only each class's first flow (its sample) is decoded. Reads every flow of the
 * range, so it is slower than SQLite's grouping inside the store; the budget
 * and class limit stop it as there.
 */
export async function clickhouseFlowClasses(ch: ClickHouseHttp, req: FlowClassesRequest, cancelFlag: Int32Array | null): Promise<FlowClasses> {
  const deadline = Deadline.in(req.budgetMs, cancelFlag);
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

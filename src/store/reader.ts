import type { DictionaryLookup, StoredRow } from '../flows/materialize.js';
import { rowToRecord } from '../flows/materialize.js';
import type { FlowRecord } from '../flows/record.js';
import type { DictKind } from '../flows/row.js';
import { listPartitions, partitionOf, rowidOf, tableName, timeOfRowid, usedBytes } from './partitions.js';
import type { Db } from './sqlite.js';
import type { FlowTime } from './writer.js';

const READ_CACHE_LIMIT = 50_000;

/** Dictionary lookups for readers, cached (entries never change once written). */
export class ReaderDictionary implements DictionaryLookup {
  private readonly values = new Map<number, Buffer>();
  private readonly endpoints = new Map<number, Buffer>();
  private readonly nodes = new Map<number, string>();
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      value: db.prepare('SELECT value FROM dict WHERE id = ? AND kind = ?').pluck(),
      endpoint: db.prepare('SELECT raw FROM endpoints WHERE id = ?').pluck(),
      node: db.prepare('SELECT name FROM nodes WHERE id = ?').pluck(),
    };
  }

  value(kind: DictKind, id: number): Buffer {
    return cached(this.values, id, () => this.stmts.value.get(id, kind) as Buffer | undefined, `dict ${kind}/${id}`);
  }

  endpoint(id: number): Buffer {
    return cached(this.endpoints, id, () => this.stmts.endpoint.get(id) as Buffer | undefined, `endpoint ${id}`);
  }

  nodeName(id: number): string {
    return cached(this.nodes, id, () => this.stmts.node.get(id) as string | undefined, `node ${id}`);
  }
}

function cached<V>(map: Map<number, V>, id: number, load: () => V | undefined, what: string): V {
  let v = map.get(id);
  if (v !== undefined) return v;
  v = load();
  if (v === undefined) throw new Error(`store is inconsistent: ${what} is referenced but missing`);
  if (map.size >= READ_CACHE_LIMIT) map.clear();
  map.set(id, v);
  return v;
}

export interface FlowRange {
  since?: FlowTime;
  until?: FlowTime;
  limit: number;
  order: 'asc' | 'desc';
}

export interface StoreStats {
  usedBytes: number;
  fileBytes: number;
  partitions: number;
  flows: number;
  oldest: FlowTime | null;
  newest: FlowTime | null;
}

/**
 * Read access to the store for the API, status and tests. Opens its own
 * connection; never writes. (Filtered queries build on this in query/.)
 */
export class FlowReader {
  readonly dict: ReaderDictionary;

  constructor(private readonly db: Db) {
    this.dict = new ReaderDictionary(db);
  }

  partitions(): number[] {
    return listPartitions(this.db);
  }

  /** Stored rows in time order within [since, until], up to `limit`. */
  rows(range: FlowRange): StoredRow[] {
    const hours = this.partitions();
    if (range.order === 'desc') hours.reverse();
    const out: StoredRow[] = [];
    for (const hour of hours) {
      if (out.length >= range.limit) break;
      if (range.since && hour < partitionOf(range.since.seconds)) continue;
      if (range.until && hour > partitionOf(range.until.seconds)) continue;
      const lo = range.since ? rowidOf(hour, range.since.seconds, range.since.nanos) : 0;
      const hi = range.until ? rowidOf(hour, range.until.seconds, range.until.nanos + 1) : Number.MAX_SAFE_INTEGER;
      const rows = this.db
        .prepare(`SELECT * FROM ${tableName(hour)} WHERE id >= ? AND id < ? ORDER BY id ${range.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ?`)
        .all(lo, hi, range.limit - out.length) as (StoredRow & { id: number })[];
      for (const r of rows) {
        const t = timeOfRowid(hour, r.id);
        r.seconds = t.seconds;
        r.nanos = t.nanos;
        out.push(r);
      }
    }
    return out;
  }

  flows(range: FlowRange): FlowRecord[] {
    return this.rows(range).map((r) => rowToRecord(r, this.dict));
  }

  /** Flows stored (from the per-partition counters the writer keeps). */
  count(): number {
    return this.db.prepare('SELECT coalesce(sum(flows), 0) FROM partitions').pluck().get() as number;
  }

  checkpoints(): Record<string, FlowTime> {
    const rows = this.db.prepare('SELECT relay, seconds, nanos FROM checkpoints').all() as ({ relay: string } & FlowTime)[];
    return Object.fromEntries(rows.map((r) => [r.relay, { seconds: r.seconds, nanos: r.nanos }]));
  }

  lostEvents(): { relay: string; source: number; node: string; events: number }[] {
    return this.db
      .prepare('SELECT relay, source, node, sum(events) AS events FROM lost_events GROUP BY relay, source, node')
      .all() as { relay: string; source: number; node: string; events: number }[];
  }

  stats(fileBytes: number): StoreStats {
    const oldest = this.rows({ limit: 1, order: 'asc' })[0];
    const newest = this.rows({ limit: 1, order: 'desc' })[0];
    return {
      usedBytes: usedBytes(this.db),
      fileBytes,
      partitions: this.partitions().length,
      flows: this.count(),
      oldest: oldest ? { seconds: oldest.seconds, nanos: oldest.nanos } : null,
      newest: newest ? { seconds: newest.seconds, nanos: newest.nanos } : null,
    };
  }
}

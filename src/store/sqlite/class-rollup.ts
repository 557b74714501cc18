import type { FlowRow } from '../../flows/row.js';
import { classFieldsOf, classHash, classKeyOf, sameClass } from '../class-key.js';
import type { ClassFields } from '../class-key.js';
import type { Db } from './sqlite.js';

/**
 * Most classes an hour keeps before its class rows are given up: beyond
 * max(CLASS_FLOOR, flows / FLOWS_PER_CLASS) (traffic with per-request L7 paths,
 * say), the rows would cost more than the scan they save, so the hour falls
 * back to grouping raw flows and its rows are deleted.
 */
export const CLASS_FLOOR = 20_000;
export const FLOWS_PER_CLASS = 16;
/** Class counts wait in memory at most this long, or until this many classes wait, before they are written. */
export const CLASS_FLUSH_MS = 2_000;
const MAX_WAITING_CLASSES = 10_000;

interface Counted {
  hour: number;
  hash: number;
  row: ClassFields;
  first: number;
  last: number;
  flows: number;
  /** Another class with the same hash */
  next: Counted | null;
}

/** Flows counted per (hour, class), chained by classHash (cheaper per flow than building each key). */
class ClassCounts {
  private readonly byHash = new Map<number, Counted>();
  size = 0;

  /** Counts flows of `row`'s class; `keep` turns a row into what a new entry holds. */
  add(hour: number, hash: number, row: ClassFields, first: number, last: number, flows: number, keep: (r: ClassFields) => ClassFields = (r) => r): void {
    const head = this.byHash.get(hash);
    for (let c: Counted | null = head ?? null; c; c = c.next) {
      if (c.hour !== hour || !sameClass(c.row, row)) continue;
      c.flows += flows;
      if (first < c.first) c.first = first;
      if (last > c.last) c.last = last;
      return;
    }
    this.byHash.set(hash, { hour, hash, row: keep(row), first, last, flows, next: head ?? null });
    this.size++;
  }

  *all(): IterableIterator<Counted> {
    for (const head of this.byHash.values()) for (let c: Counted | null = head; c; c = c.next) yield c;
  }

  clear(): void {
    this.byHash.clear();
    this.size = 0;
  }
}

/**
 * Keeps flow_classes (migrations/005_flow_classes.sql) for the partitions
 * created with class rows. A batch's flows are counted per class while it is
 * written and, once it has committed, added to the counts waiting in memory;
 * those are written in a transaction of their own every CLASS_FLUSH_MS, so a
 * class seen in many batches costs one upsert, not one per batch. An hour's
 * rows are complete when partitions.class_flows equals partitions.flows
 * (counts lost in a crash leave that hour to raw grouping).
 */
export class ClassRollup {
  private readonly batch = new ClassCounts();
  private readonly waiting = new ClassCounts();
  private lastFlush = Date.now();
  /** Hours counted in flow_classes, with their row count once known. */
  private readonly hours = new Map<number, number | null>();
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      upsert: db.prepare(`INSERT INTO flow_classes
        (hour, key, verdict, drop_reason, event_type, direction, l4, l7_record, src_ep, dst_ep, src_ip, dst_ip,
         src_names, dst_names, src_service, dst_service, first_id, last_id, flows)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT DO UPDATE SET flows = flows + excluded.flows,
          first_id = min(first_id, excluded.first_id), last_id = max(last_id, excluded.last_id)
        RETURNING flows`).pluck(),
      counted: db.prepare('UPDATE partitions SET class_flows = class_flows + ? WHERE hour = ? AND classes = 1'),
      count: db.prepare('SELECT count(*) FROM flow_classes WHERE hour = ?').pluck(),
      flows: db.prepare('SELECT flows FROM partitions WHERE hour = ?').pluck(),
      giveUp: db.prepare('UPDATE partitions SET classes = 0 WHERE hour = ?'),
      remove: db.prepare('DELETE FROM flow_classes WHERE hour = ?'),
      complete: db.prepare('SELECT hour FROM partitions WHERE classes = 1 AND class_flows = flows').pluck(),
    };
    this.reload();
  }

  /**
   * Counts only the hours whose rows are complete: an hour whose counts were
   * lost (a crash, a failed write) is grouped from raw flows for good, so
   * counting more of its flows would be wasted.
   */
  private reload(): void {
    this.hours.clear();
    for (const hour of this.stmts.complete.all() as number[]) this.hours.set(hour, null);
  }

  /** A partition created with class rows. */
  created(hour: number): void {
    this.hours.set(hour, 0);
  }

  /** A partition dropped (or never committed): nothing more is written for it. */
  forget(hour: number): void {
    this.hours.delete(hour);
  }

  /** A flow stored in the batch being written. */
  add(hour: number, rowid: number, row: FlowRow): void {
    if (this.hours.has(hour)) this.batch.add(hour, (classHash(row) ^ hour) & 0x3fffffff, row, rowid, rowid, 1);
  }

  /** The batch committed: its counts wait to be written. */
  committed(): void {
    // Waiting classes keep their key fields only, not the batch's rows (and the buffers those point into).
    for (const c of this.batch.all()) this.waiting.add(c.hour, c.hash, c.row, c.first, c.last, c.flows, classFieldsOf);
    this.batch.clear();
  }

  /** The batch rolled back: forget its counts. */
  rolledBack(): void {
    this.batch.clear();
  }

  /** Whether the waiting counts are due to be written. */
  due(now = Date.now()): boolean {
    return this.waiting.size > 0 && (now - this.lastFlush >= CLASS_FLUSH_MS || this.waiting.size >= MAX_WAITING_CLASSES);
  }

  /** Writes the waiting counts in one transaction; counts that fail to be written are dropped. */
  flush(): void {
    try {
      this.write();
    } catch {
      // Rolled back: these counts are given up, and their hours stay incomplete.
      this.reload();
    }
    this.waiting.clear();
    this.lastFlush = Date.now();
  }

  private write(): void {
    this.db.transaction(() => {
      const added = new Map<number, number>();
      const flows = new Map<number, number>();
      for (const c of this.waiting.all()) {
        if (!this.hours.has(c.hour)) continue;
        const r = c.row;
        const total = this.stmts.upsert.get(
          c.hour, classKeyOf(r, false), r.verdict, r.dropReason, r.eventType, r.direction, r.l4, r.l7Record, r.srcEp, r.dstEp,
          r.srcIp, r.dstIp, r.srcNames, r.dstNames, r.srcService, r.dstService, c.first, c.last, c.flows,
        ) as number;
        if (total === c.flows) added.set(c.hour, (added.get(c.hour) ?? 0) + 1);
        flows.set(c.hour, (flows.get(c.hour) ?? 0) + c.flows);
      }
      for (const [hour, n] of flows) this.stmts.counted.run(n, hour);
      for (const [hour, n] of added) this.bound(hour, n);
    })();
  }

  /** Gives up an hour's class rows once they outgrow their bound. */
  private bound(hour: number, added: number): void {
    const known = this.hours.get(hour);
    const classes = known === null || known === undefined ? (this.stmts.count.get(hour) as number) : known + added;
    this.hours.set(hour, classes);
    if (classes <= CLASS_FLOOR) return;
    const flows = (this.stmts.flows.get(hour) as number | undefined) ?? 0;
    if (classes * FLOWS_PER_CLASS <= flows) return;
    this.stmts.giveUp.run(hour);
    this.stmts.remove.run(hour);
    this.hours.delete(hour);
  }
}

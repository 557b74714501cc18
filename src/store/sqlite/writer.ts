import type { FlowRow } from '../../flows/row.js';
import { scanFlow } from '../../flows/scan.js';
import { DedupeWindow, MAX_FUTURE_SKEW_SECONDS, dedupeKey } from '../dedupe.js';
import { WriterDictionary } from './dictionary.js';
import {
  ROWID_SLOTS,
  SECONDS_PER_PARTITION,
  createPartition,
  dropPartition,
  listPartitions,
  partitionOf,
  rowidOf,
  tableName,
  timeOfRowid,
  usedBytes,
} from './partitions.js';
import { ClassRollup } from './class-rollup.js';
import { RollupAccumulator } from './rollup.js';
import { flowEnvelope } from '../writes.js';
import type { BatchResult, LostEventCount, RetentionPolicy } from '../writes.js';
import { isStorageFailure } from './sqlite.js';
import type { Db } from './sqlite.js';
import type { Statement } from 'better-sqlite3';

import type { FlowTime } from '../../flows/record.js';

/** Recent nanoseconds remembered per partition for slot assignment (bounded memory). */
const MAX_SLOT_CACHE = 16_384;

const INSERT_COLUMNS = [
  'id', 'uuid', 'verdict', 'drop_reason', 'bits', 'flow_type', 'event_type', 'event_sub', 'direction', 'obs_point',
  'trace_reason', 'policy_match', 'auth_type', 'node', 'src_ep', 'dst_ep', 'src_ip', 'dst_ip', 'src_xlated',
  'ip_version', 'l4', 'src_port', 'dst_port', 'tcp_flags', 'icmp_type', 'icmp_code', 'l4_other', 'ethernet',
  'l7_type', 'latency_ns', 'l7_record', 'http_code', 'l7_headers', 'src_names', 'dst_names', 'src_service', 'dst_service',
  'summary', 'iface', 'proxy_port', 'allowed_by', 'denied_by', 'policy_log', 'node_labels', 'emitter', 'extra',
];

/**
 * The single writer of the store: turns batches of raw GetFlowsResponse
 * messages into rows, rollups and a checkpoint, one transaction per batch.
 */
export class FlowWriter {
  private readonly dict: WriterDictionary;
  private readonly rollup: RollupAccumulator;
  private readonly classes: ClassRollup;
  private readonly inserts = new Map<number, Statement>();
  private readonly partitions: Set<number>;
  /** Per partition: rowid base → next slot to try, for the nanoseconds seen recently. */
  private readonly nextSlot = new Map<number, Map<number, number>>();
  /** INSERT statements run, slot probes included: one per stored flow when slot assignment is constant time. */
  insertAttempts = 0;
  private readonly windows = new Map<string, DedupeWindow>();
  private readonly stmts;

  constructor(
    private readonly db: Db,
    private readonly overlapSeconds: number,
  ) {
    this.dict = new WriterDictionary(db);
    this.rollup = new RollupAccumulator(db);
    this.classes = new ClassRollup(db);
    this.partitions = new Set(listPartitions(db));
    this.stmts = {
      checkpoint: db.prepare('SELECT seconds, nanos FROM checkpoints WHERE relay = ?'),
      saveCheckpoint: db.prepare(`INSERT INTO checkpoints (relay, seconds, nanos, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (relay) DO UPDATE SET seconds = excluded.seconds, nanos = excluded.nanos, updated_at = excluded.updated_at
        WHERE excluded.seconds > checkpoints.seconds
           OR (excluded.seconds = checkpoints.seconds AND excluded.nanos > checkpoints.nanos)`),
      countFlows: db.prepare('UPDATE partitions SET flows = flows + ? WHERE hour = ?'),
      countNodeFlows: db.prepare(`INSERT INTO partition_nodes (hour, node, flows) VALUES (?, ?, ?)
        ON CONFLICT DO UPDATE SET flows = flows + excluded.flows`),
      lost: db.prepare(`INSERT INTO lost_events (minute, relay, source, node, events) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT DO UPDATE SET events = events + excluded.events`),
    };
  }

  checkpoint(relay: string): FlowTime | null {
    return (this.stmts.checkpoint.get(relay) as FlowTime | undefined) ?? null;
  }

  /**
   * Prepares de-duplication for a (re)connect of `relay` and returns the time to
   * resume from (checkpoint minus overlap), or null when nothing is stored yet.
   */
  resume(relay: string): FlowTime | null {
    const stored = this.checkpoint(relay);
    // Clamp a checkpoint written before future-dated flows were kept out of it.
    const now = Date.now() / 1000;
    const cp = stored && stored.seconds > now ? { seconds: Math.floor(now), nanos: 0 } : stored;
    if (!cp) {
      this.windows.delete(relay);
      return null;
    }
    const since = { seconds: cp.seconds - this.overlapSeconds, nanos: cp.nanos };
    this.windows.set(relay, new DedupeWindow(cp.seconds, cp.nanos, this.storedKeys(since, cp)));
    return since;
  }

  /** Dedupe keys of stored flows with since <= time <= until. */
  private storedKeys(since: FlowTime, until: FlowTime): Set<string> {
    const keys = new Set<string>();
    for (let hour = partitionOf(since.seconds); hour <= partitionOf(until.seconds); hour++) {
      if (!this.partitions.has(hour)) continue;
      const lo = Math.max(0, rowidOf(hour, since.seconds, since.nanos));
      const hi = Math.min(rowidOf(hour, (hour + 1) * SECONDS_PER_PARTITION, 0), rowidOf(hour, until.seconds, until.nanos) + ROWID_SLOTS);
      const rows = this.db
        .prepare(`SELECT id, uuid, node, src_ip, dst_ip, src_port, dst_port, l4, icmp_type FROM ${tableName(hour)} WHERE id >= ? AND id < ?`)
        .all(lo, hi) as { id: number; uuid: Buffer | string | null; node: number | null; src_ip: number | null; dst_ip: number | null; src_port: number | null; dst_port: number | null; l4: number; icmp_type: number | null }[];
      for (const r of rows) {
        const t = timeOfRowid(hour, r.id);
        keys.add(
          dedupeKey({ uuid: r.uuid, seconds: t.seconds, nanos: t.nanos, node: r.node, srcIp: r.src_ip, dstIp: r.dst_ip, srcPort: r.src_port, dstPort: r.dst_port, l4: r.l4, icmpType: r.icmp_type }),
        );
      }
    }
    return keys;
  }

  /**
   * Stores one batch of encoded GetFlowsResponse messages from `relay`:
   * message i is buf[offsets[i], offsets[i+1]). Malformed messages are counted
   * and skipped; the batch is one transaction (all or nothing on SQLite errors).
   */
  writeBatch(relay: string, buf: Buffer, offsets: ArrayLike<number>): BatchResult {
    const result: BatchResult = {
      received: offsets.length - 1, stored: 0, duplicates: 0, malformed: 0, malformedSample: null, futureDated: 0,
      lostEvents: [], nodeStatus: [], newest: null, metrics: [],
    };
    const window = this.windows.get(relay);
    const lost = new Map<string, LostEventCount>();
    /** Flows per "hour,node": the partitions' counters and GetNodes' (per partition, so retention takes them along). */
    const perHourNode = new Map<string, number>();
    const remembered: string[] = [];
    const latestPlausible = Date.now() / 1000 + MAX_FUTURE_SKEW_SECONDS;
    try {
      this.db.transaction(() => {
        for (let i = 0; i + 1 < offsets.length; i++) {
          let row: FlowRow;
          try {
            const env = flowEnvelope(buf, offsets[i], offsets[i + 1], lost, result.nodeStatus);
            if (!env) continue;
            row = scanFlow(buf, env.start, env.end, this.dict);
          } catch (err) {
            if (isStorageFailure(err) || !this.db.inTransaction) throw err;
            result.malformed++;
            result.malformedSample ??= (err as Error).message;
            continue;
          }
          if (window && window.covers(row.seconds, row.nanos)) {
            const key = dedupeKey(row);
            if (window.seen(key)) {
              result.duplicates++;
              continue;
            }
            remembered.push(key);
          }
          const hour = partitionOf(row.seconds);
          let rowid: number;
          try {
            rowid = this.insert(hour, row);
          } catch (err) {
            // A failing store (disk full: SQLite has rolled the transaction back) fails the whole batch, to be retried.
            if (isStorageFailure(err) || !this.db.inTransaction) throw err;
            // One flow the store cannot take must not cost the rest of the batch.
            result.malformed++;
            result.malformedSample ??= `not storable: ${(err as Error).message}`;
            continue;
          }
          const hourNode = `${hour},${row.node ?? 0}`;
          perHourNode.set(hourNode, (perHourNode.get(hourNode) ?? 0) + 1);
          this.rollup.add(row);
          this.classes.add(hour, rowid, row);
          result.stored++;
          if (row.seconds > latestPlausible) {
            // A resume from a future checkpoint would ask the relay for nothing until that time comes.
            result.futureDated++;
            continue;
          }
          const n = result.newest;
          if (!n || row.seconds > n.seconds || (row.seconds === n.seconds && row.nanos > n.nanos)) {
            result.newest = { seconds: row.seconds, nanos: row.nanos };
          }
        }
        result.metrics = this.rollup.flush();
        const perHour = new Map<number, number>();
        for (const [key, n] of perHourNode) {
          const [hour, node] = key.split(',').map(Number);
          this.stmts.countNodeFlows.run(hour, node, n);
          perHour.set(hour, (perHour.get(hour) ?? 0) + n);
        }
        for (const [hour, n] of perHour) this.stmts.countFlows.run(n, hour);
        const minute = Math.floor(Date.now() / 60_000);
        for (const l of lost.values()) this.stmts.lost.run(minute, relay, l.source, l.node, l.events);
        if (result.newest) this.stmts.saveCheckpoint.run(relay, result.newest.seconds, result.newest.nanos, Date.now());
      })();
      this.classes.committed();
      // Once the stream is well past the resume point, the replay is over: free the keys.
      if (window?.replayOver(result.newest, this.overlapSeconds)) this.windows.delete(relay);
    } catch (err) {
      // Rolled back: undo what this batch taught the caches, so a retry of the same batch stores it all.
      this.rollup.discard();
      this.classes.rolledBack();
      this.dict.forget();
      window?.unsee(remembered);
      this.resyncPartitions();
      throw err;
    }
    result.lostEvents = [...lost.values()];
    if (this.classes.due()) this.flushClasses();
    return result;
  }

  /**
   * Writes the class counts waiting in memory (also due every CLASS_FLUSH_MS
   * while batches arrive; call before closing). A failure costs only speed: the
   * hours concerned are grouped from raw flows by policy replay.
   */
  flushClasses(): void {
    this.classes.flush();
  }

  /** Inserts the row into its hourly partition `hour`; returns its rowid. */
  private insert(hour: number, row: FlowRow): number {
    const stmt = this.insertStatement(hour);
    const base = rowidOf(hour, row.seconds, row.nanos);
    // Flows sharing a nanosecond take consecutive slots: start after the last one taken (constant time per flow).
    let slots = this.nextSlot.get(hour);
    if (!slots || slots.size > MAX_SLOT_CACHE) this.nextSlot.set(hour, (slots = new Map()));
    for (let slot = slots.get(base) ?? 0; slot < ROWID_SLOTS; slot++) {
      this.insertAttempts++;
      const info = stmt.run(
        base + slot, row.uuid, row.verdict, row.dropReason, row.bits, row.flowType, row.eventType, row.eventSubType,
        row.direction, row.obsPoint, row.traceReason, row.policyMatch, row.authType, row.node, row.srcEp, row.dstEp,
        row.srcIp, row.dstIp, row.srcXlated, row.ipVersion, row.l4, row.srcPort, row.dstPort, row.tcpFlags,
        row.icmpType, row.icmpCode, row.l4Other, row.ethernet, row.l7Type, row.latencyNs, row.l7Record, row.httpCode, row.l7Headers,
        row.srcNames, row.dstNames, row.srcService, row.dstService, row.summary, row.iface, row.proxyPort,
        row.allowedBy, row.deniedBy, row.policyLog, row.nodeLabels, row.emitter, row.extra,
      );
      if (info.changes === 1) {
        slots.set(base, slot + 1);
        return base + slot;
      }
    }
    throw new Error(`more than ${ROWID_SLOTS} flows share one nanosecond`);
  }

  /** Partitions created inside a rolled-back transaction are gone: forget them and their statements. */
  private resyncPartitions(): void {
    const present = new Set(listPartitions(this.db));
    for (const hour of [...this.partitions]) if (!present.has(hour)) this.forgetHour(hour);
  }

  /**
   * Drops the oldest raw partition to free space for new flows (never the only
   * one, which is being written). Returns the hour dropped, or null.
   */
  dropOldestPartition(): number | null {
    if (this.partitions.size < 2) return null;
    const oldest = Math.min(...this.partitions);
    this.dropHour(oldest);
    this.db.pragma('incremental_vacuum');
    return oldest;
  }

  private dropHour(hour: number): void {
    dropPartition(this.db, hour);
    this.forgetHour(hour);
  }

  /** Forgets what is cached about a partition that no longer exists. */
  private forgetHour(hour: number): void {
    this.partitions.delete(hour);
    this.inserts.delete(hour);
    this.nextSlot.delete(hour);
    this.classes.forget(hour);
  }

  private insertStatement(hour: number): Statement {
    let stmt = this.inserts.get(hour);
    if (stmt) return stmt;
    if (!this.partitions.has(hour)) {
      createPartition(this.db, hour);
      this.partitions.add(hour);
      this.classes.created(hour);
    }
    stmt = this.db.prepare(
      `INSERT OR IGNORE INTO ${tableName(hour)} (${INSERT_COLUMNS.join(', ')}) VALUES (${INSERT_COLUMNS.map(() => '?').join(', ')})`,
    );
    this.inserts.set(hour, stmt);
    return stmt;
  }

  /** Drops partitions past the age or size limit and old rollups; returns the hours dropped. */
  enforceRetention(policy: RetentionPolicy, nowSeconds = Date.now() / 1000): number[] {
    const dropped: number[] = [];
    const hours = [...this.partitions].sort((a, b) => a - b);
    const drop = (hour: number): void => {
      this.dropHour(hour);
      dropped.push(hour);
    };
    while (hours.length > 0 && (hours[0] + 1) * SECONDS_PER_PARTITION <= nowSeconds - policy.maxAgeSeconds) {
      drop(hours.shift()!);
    }
    // Never drop the partition being written: a size limit below one hour of flows keeps that hour.
    while (policy.maxBytes > 0 && hours.length > 1 && usedBytes(this.db) > policy.maxBytes) {
      drop(hours.shift()!);
    }
    this.db.prepare('DELETE FROM rollup_1m WHERE minute < ?').run(Math.floor((nowSeconds - policy.rollupMaxAgeSeconds) / 60));
    this.db.prepare('DELETE FROM lost_events WHERE minute < ?').run(Math.floor((nowSeconds - policy.rollupMaxAgeSeconds) / 60));
    if (dropped.length > 0) this.db.pragma('incremental_vacuum');
    return dropped;
  }
}

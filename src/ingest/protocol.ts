import type { RetentionPolicy } from '../store/writes.js';
import type { BatchSummary } from './batch-summary.js';
import type { FlowTime } from '../flows/record.js';
import type { ClickHouseSettings } from '../store/clickhouse/http.js';
import type { GatherLimits } from './insert-gatherer.js';

/** Settings the SQLite writer worker starts with (workerData). */
export interface SqliteWorkerSettings {
  engine?: 'sqlite';
  dbPath: string;
  /** Cap on the database file (SQLite max_page_count); 0 = none. */
  dbMaxBytes: number;
  /** What to do when the start-up check finds the file damaged. */
  onDamaged: 'move-aside' | 'refuse';
  migrationsDir: string;
  overlapSeconds: number;
  retention: RetentionPolicy;
  retentionIntervalMs: number;
}

/** Settings the ClickHouse writer worker starts with (workerData). */
export interface ClickHouseWorkerSettings {
  engine: 'clickhouse';
  clickhouse: ClickHouseSettings;
  migrationsDir: string;
  overlapSeconds: number;
  /** Flows older than this are dropped, a whole day at a time. */
  retentionSeconds: number;
  /** Rollups older than this are dropped, a whole day at a time. */
  rollupRetentionSeconds: number;
  retentionIntervalMs: number;
  /** When gathered relay batches go to ClickHouse as one insert */
  insert: GatherLimits;
}

export type WorkerSettings = SqliteWorkerSettings | ClickHouseWorkerSettings;

/** Main thread → worker. */
export type WorkerRequest =
  | { id: number; type: 'batch'; relay: string; buf: ArrayBuffer; offsets: Uint32Array }
  | { id: number; type: 'resume'; relay: string }
  | { id: number; type: 'close' }
  /** Store what was sent so far without waiting to gather more (ClickHouse; the SQLite writer stores each batch at once) */
  | { type: 'flush' };

/** Worker → main thread. */
export type WorkerReply =
  | { type: 'ready'; migrations: string[]; movedAside: { path: string; problem: string } | null; engine?: StoreEngineInfo }
  | { type: 'fatal'; message: string; code?: string }
  /** A batch is stored; `buf` is its buffer, when it was not handed back before (type 'buffer') */
  | { type: 'done'; id: number; summary: BatchSummary; buf?: ArrayBuffer }
  /** A batch's buffer, handed back before the batch is stored (its rows were copied out) */
  | { type: 'buffer'; buf: ArrayBuffer }
  | { type: 'resumed'; id: number; since: FlowTime | null }
  | { type: 'failed'; id: number; message: string }
  | { type: 'closed'; id: number }
  | { type: 'warning'; message: string }
  /** Storage started failing (ok: false) or recovered (ok: true); `since` is when it started. */
  | { type: 'storage'; ok: boolean; since: number; message: string }
  /** A raw partition was dropped early to make room (the disk or --db-max-size was full). */
  | { type: 'emergency-retention'; hour: number }
  | { type: 'heap'; heapUsed: number; heapTotal: number };

/** What the writer found out about its storage engine at start-up (ClickHouse: the server and what it lacks). */
export interface StoreEngineInfo {
  version: string;
  /** Schema features this server lacks (a newer one would use them). */
  missing: string[];
}

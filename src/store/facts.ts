import type { FlowTime } from '../flows/record.js';
import type { RelayLostEvents } from './writes.js';

/**
 * What status, /metrics and the Observer's ServerStatus/GetNodes/GetNamespaces
 * read about the store, on the main thread and without waiting: SQLite answers
 * from its read connection, ClickHouse from a snapshot refreshed in the background.
 */
export interface StoreFacts {
  stats(): StoreStats;
  /** Bytes the store takes on disk (cheap: read on every /metrics scrape). */
  diskBytes(): number;
  count(): number;
  /** Time of the oldest ('asc') or newest ('desc') stored flow. */
  edge(order: 'asc' | 'desc'): FlowTime | null;
  /** Newest stored flow per relay (where each resumes). */
  checkpoints(): Record<string, FlowTime>;
  /** (cluster, namespace) seen in flows since `minute` (UTC minutes), sorted. */
  namespacesSince(minute: number): { cluster: string; namespace: string }[];
  flowsPerNode(): Map<string, number>;
  nodeNames(): string[];
  lostEvents(): RelayLostEvents[];
  /** Relays whose flows two or more flowkeepers are storing at once, each flow twice (ClickHouse; SQLite has one writer). */
  relaysWrittenTwice(): { relay: string; writers: number }[];
  /** Which engine and where, for status. */
  describe(): Record<string, unknown>;
}

export interface StoreStats {
  usedBytes: number;
  fileBytes: number;
  partitions: number;
  flows: number;
  oldest: FlowTime | null;
  newest: FlowTime | null;
}

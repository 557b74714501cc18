import type { FlowTime } from '../flows/record.js';
import type { FlowReader, StoreStats } from './reader.js';
import { fileBytes } from './sqlite.js';

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
  lostEvents(): { relay: string; source: number; node: string; events: number }[];
  /** Which engine and where, for status. */
  describe(): Record<string, unknown>;
}

/** The SQLite store's facts, read from its read connection when asked. */
export class SqliteFacts implements StoreFacts {
  constructor(
    private readonly reader: FlowReader,
    private readonly dbPath: string,
  ) {}

  stats(): StoreStats {
    return this.reader.stats(fileBytes(this.dbPath));
  }

  diskBytes(): number {
    return fileBytes(this.dbPath);
  }

  count(): number {
    return this.reader.count();
  }

  edge(order: 'asc' | 'desc'): FlowTime | null {
    return this.reader.edge(order);
  }

  checkpoints(): Record<string, FlowTime> {
    return this.reader.checkpoints();
  }

  namespacesSince(minute: number): { cluster: string; namespace: string }[] {
    return this.reader.namespacesSince(minute);
  }

  flowsPerNode(): Map<string, number> {
    return this.reader.flowsPerNode();
  }

  nodeNames(): string[] {
    return this.reader.nodeNames();
  }

  lostEvents(): { relay: string; source: number; node: string; events: number }[] {
    return this.reader.lostEvents();
  }

  describe(): Record<string, unknown> {
    return { engine: 'sqlite', path: this.dbPath };
  }
}

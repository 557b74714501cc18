import type { FlowTime } from '../../flows/record.js';
import type { StoreFacts, StoreStats } from '../facts.js';
import type { FlowReader } from './reader.js';
import { fileBytes } from './sqlite.js';
import type { RelayLostEvents } from '../writes.js';

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

  lostEvents(): RelayLostEvents[] {
    return this.reader.lostEvents();
  }

  relaysWrittenTwice(): { relay: string; writers: number }[] {
    return [];
  }

  describe(): Record<string, unknown> {
    return { engine: 'sqlite', path: this.dbPath };
  }
}

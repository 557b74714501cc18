import type { IngestPipeline } from './ingest/pipeline.js';
import type { RelayClient, RelayStatus } from './relay/client.js';
import type { StoreStats } from './store/facts.js';
import type { StoreFacts } from './store/facts.js';
import { formatTimestamp } from './flows/jsonpb.js';
import type { StatusSource } from './api/status.js';
import type { QueryPoolStats } from './query/pool.js';

/** Assembles /api/v1/status from the relays, the pipeline and the store. */
export class StatusReport implements StatusSource {
  private readonly startedAt = Date.now();
  private lastRate = { at: Date.now(), stored: 0, perSecond: 0 };

  constructor(
    private readonly version: string,
    private readonly relays: RelayClient[],
    private readonly pipeline: IngestPipeline,
    private readonly facts: StoreFacts,
    private readonly queryPool: { stats(): QueryPoolStats },
  ) {}

  /** Flows stored per second, over the last second or more. */
  ingestRate(): number {
    const now = Date.now();
    const elapsed = (now - this.lastRate.at) / 1000;
    if (elapsed >= 1) {
      this.lastRate = { at: now, stored: this.pipeline.stats.stored, perSecond: (this.pipeline.stats.stored - this.lastRate.stored) / elapsed };
    }
    return Math.round(this.lastRate.perSecond);
  }

  status(): Record<string, unknown> {
    const store: StoreStats = this.facts.stats();
    const time = (t: { seconds: number; nanos: number } | null): string | null => (t ? formatTimestamp(t.seconds, t.nanos) : null);
    return {
      version: this.version,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      memory: { ...process.memoryUsage(), writerThread: this.pipeline.writerHeap },
      relays: this.relays.map((r): RelayStatus => r.status),
      ingest: { ...this.pipeline.stats, flowsPerSecond: this.ingestRate() },
      store: { ...this.facts.describe(), ...store, oldest: time(store.oldest), newest: time(store.newest), checkpoints: this.facts.checkpoints() },
      lostEvents: this.facts.lostEvents(),
      queries: this.queryPool.stats(),
    };
  }

  ready(): { ready: boolean; reason?: string } {
    const { storageFailingSince, storageError } = this.pipeline.stats;
    if (storageFailingSince !== null) {
      return { ready: false, reason: `storage failing since ${new Date(storageFailingSince).toISOString()}: ${storageError ?? 'unknown error'} (batches kept and retried; relay streams paused until storage takes them)` };
    }
    const down = this.relays.filter((r) => !r.status.connected).map((r) => r.name);
    if (down.length === this.relays.length) return { ready: false, reason: `no relay connected (${down.join(', ')})` };
    return { ready: true };
  }
}

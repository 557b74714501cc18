import type { FlowTime } from '../../flows/record.js';
import { fromNanos } from '../../query/time.js';
import type { StoreFacts } from '../facts.js';
import type { StoreStats } from '../facts.js';
import type { ClickHouseHttp } from './http.js';
import { stringLiteral } from './where.js';
import { readTables } from './cluster.js';
import type { RelayLostEvents } from '../writes.js';
import type { Logger } from '../../log.js';
import { readWriterSpans, sharedRelays } from './shared-relays.js';
import type { SharedRelay } from './shared-relays.js';

interface Snapshot {
  at: number;
  stats: StoreStats;
  checkpoints: Record<string, FlowTime>;
  perNode: Map<string, number>;
  /** (cluster, namespace, newest minute it was seen) */
  namespaces: { cluster: string; namespace: string; minute: number }[];
  lostEvents: RelayLostEvents[];
}

const EMPTY: Snapshot = {
  at: 0, stats: { usedBytes: 0, fileBytes: 0, partitions: 0, flows: 0, oldest: null, newest: null }, checkpoints: {}, perNode: new Map(), namespaces: [], lostEvents: [],
};

/** How often the facts look for relays two flowkeepers store at once (shared-relays.ts). */
const SHARED_RELAYS_CHECK_MS = 60_000;

/** Longest window GetNamespaces looks back over (Hubble UI asks for the last hour). */
const NAMESPACE_WINDOW_SECONDS = 3_600;

/**
 * The ClickHouse store's facts as of the last refresh: a few aggregate
 * statements every `intervalMs`, so status, /metrics scrapes and the Observer's
 * ServerStatus never wait on ClickHouse (or fail while it is down: they show
 * the last snapshot and its age).
 */
export class ClickHouseFacts implements StoreFacts {
  private snapshot: Snapshot = EMPTY;
  private lastError: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private shared: SharedRelay[] = [];
  private sharedCheckedAt = 0;

  constructor(
    private readonly ch: ClickHouseHttp,
    private readonly engine: { version: string; missing: string[] } | null,
    private readonly log?: Logger,
  ) {}

  /** Takes the first snapshot, then refreshes every `intervalMs`. */
  async start(intervalMs: number): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.read()
      .then(async (s) => {
        this.snapshot = s;
        this.lastError = null;
        if (Date.now() - this.sharedCheckedAt >= SHARED_RELAYS_CHECK_MS) await this.checkSharedRelays();
      })
      .catch((err: Error) => {
        this.lastError = err.message;
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  /** Looks for relays two flowkeepers store at once; says so in the log when one is newly found. */
  async checkSharedRelays(nowMs = Date.now()): Promise<void> {
    this.sharedCheckedAt = Date.now();
    const found = sharedRelays(await readWriterSpans(this.ch, readTables(this.ch.settings).flows, nowMs));
    for (const s of found) {
      if (this.shared.some((known) => known.relay === s.relay)) continue;
      this.log?.warn({ relay: s.relay, writers: s.writers },
        'flows of this relay are being stored by more than one flowkeeper at once, so each flow twice: follow each relay from one instance (ClickHouse does not deduplicate across writers)');
    }
    this.shared = found;
  }

  private async read(): Promise<Snapshot> {
    const db = stringLiteral(this.ch.settings.database);
    const { flows, lostEvents } = readTables(this.ch.settings);
    // One pass over the flows gives the totals, the edges, each relay's newest flow and each node's count.
    const groups = await this.ch.rows<{ relay: string; node: string; n: string; oldest: string; newest: string }>(
      `SELECT relay, node, count() AS n, min(time_ns) AS oldest, max(time_ns) AS newest FROM ${flows} GROUP BY relay, node`,
    );
    // With a cluster, every shard's parts (the cluster table function reads system.parts on each).
    const parts = this.ch.settings.cluster ? `cluster(${stringLiteral(this.ch.settings.cluster)}, system, parts)` : 'system.parts';
    const [disk] = await this.ch.rows<{ bytes: string; parts: string }>(`SELECT sum(bytes_on_disk) AS bytes, uniqExact(partition) AS parts FROM ${parts} WHERE database = ${db} AND table = 'flows' AND active`);
    const since = BigInt(Math.floor(Date.now() / 1000) - NAMESPACE_WINDOW_SECONDS) * 1_000_000_000n;
    const namespaces = await this.ch.rows<{ cluster: string; namespace: string; newest: string }>(
      // Aliases unlike the table's own columns (flows has a node `cluster`): 18.16 resolves aliases query-wide.
      `SELECT ep_cluster AS cluster, ep_namespace AS namespace, max(t) AS newest FROM (SELECT src_cluster AS ep_cluster, src_namespace AS ep_namespace, time_ns AS t FROM ${flows} WHERE time_ns >= ${since} UNION ALL SELECT dst_cluster AS ep_cluster, dst_namespace AS ep_namespace, time_ns AS t FROM ${flows} WHERE time_ns >= ${since}) WHERE ep_namespace != '' GROUP BY ep_cluster, ep_namespace ORDER BY ep_cluster, ep_namespace`,
    );
    const lost = await this.ch.rows<{ relay: string; source: string; node: string; events: string }>(
      `SELECT relay, source, node, sum(events) AS events FROM ${lostEvents} GROUP BY relay, source, node ORDER BY relay, source, node`,
    );
    let n = 0;
    let oldest: bigint | null = null;
    let newest: bigint | null = null;
    const checkpoints = new Map<string, bigint>();
    const perNode = new Map<string, number>();
    for (const g of groups) {
      const [count, lo, hi] = [Number(g.n), BigInt(g.oldest), BigInt(g.newest)];
      n += count;
      if (oldest === null || lo < oldest) oldest = lo;
      if (newest === null || hi > newest) newest = hi;
      if ((checkpoints.get(g.relay) ?? -1n) < hi) checkpoints.set(g.relay, hi);
      if (g.node !== '') perNode.set(g.node, (perNode.get(g.node) ?? 0) + count);
    }
    const bytes = Number(disk?.bytes ?? 0);
    return {
      at: Date.now(),
      stats: { usedBytes: bytes, fileBytes: bytes, partitions: Number(disk?.parts ?? 0), flows: n, oldest: oldest === null ? null : fromNanos(oldest), newest: newest === null ? null : fromNanos(newest) },
      checkpoints: Object.fromEntries([...checkpoints].map(([relay, t]) => [relay, fromNanos(t)])),
      perNode,
      namespaces: namespaces.map((r) => ({ cluster: r.cluster, namespace: r.namespace, minute: Math.floor(Number(BigInt(r.newest) / 60_000_000_000n)) })),
      lostEvents: lost.map((r) => ({ relay: r.relay, source: Number(r.source), node: r.node, events: Number(r.events) })),
    };
  }

  stats(): StoreStats {
    return this.snapshot.stats;
  }

  diskBytes(): number {
    return this.snapshot.stats.fileBytes;
  }

  count(): number {
    return this.snapshot.stats.flows;
  }

  edge(order: 'asc' | 'desc'): FlowTime | null {
    return order === 'asc' ? this.snapshot.stats.oldest : this.snapshot.stats.newest;
  }

  checkpoints(): Record<string, FlowTime> {
    return this.snapshot.checkpoints;
  }

  namespacesSince(minute: number): { cluster: string; namespace: string }[] {
    return this.snapshot.namespaces.filter((n) => n.minute >= minute).map(({ cluster, namespace }) => ({ cluster, namespace }));
  }

  flowsPerNode(): Map<string, number> {
    return this.snapshot.perNode;
  }

  nodeNames(): string[] {
    return [...this.snapshot.perNode.keys()].sort();
  }

  lostEvents(): RelayLostEvents[] {
    return this.snapshot.lostEvents;
  }

  relaysWrittenTwice(): SharedRelay[] {
    return this.shared;
  }

  describe(): Record<string, unknown> {
    return {
      engine: 'clickhouse', url: new URL(this.ch.settings.url).origin, database: this.ch.settings.database, cluster: this.ch.settings.cluster || null,
      server: this.engine?.version ?? null, missingFeatures: this.engine?.missing ?? [],
      asOf: this.snapshot.at ? new Date(this.snapshot.at).toISOString() : null, refreshError: this.lastError,
      relaysWrittenTwice: this.shared,
    };
  }
}

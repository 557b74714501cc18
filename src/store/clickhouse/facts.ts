import type { FlowTime } from '../../flows/record.js';
import { fromNanos, minuteOfNanos, secondsBeforeNanos, toNanos } from '../../query/time.js';
import type { StoreFacts } from '../facts.js';
import type { StoreStats } from '../facts.js';
import type { ClickHouseHttp } from './http.js';
import { stringLiteral } from './where.js';
import { readTables } from './cluster.js';
import type { RelayLostEvents } from '../writes.js';
import type { Logger } from '../../log.js';
import { readWriterSpans, sharedRelays } from './shared-relays.js';
import type { SharedRelay } from './shared-relays.js';

/** Facts read every SLOW_FACTS_INTERVAL_MS (costly to read, or slow to change). */
interface SlowFacts {
  oldestNs: bigint | null;
  perNode: Map<string, number>;
}

interface Snapshot {
  at: number;
  /** When `slow` was read. */
  slowAt: number;
  flows: number;
  diskBytes: number;
  partitions: number;
  slow: SlowFacts;
  /** (cluster, namespace, newest minute it was seen) over the last hour */
  namespaces: { cluster: string; namespace: string; minute: number }[];
  lostEvents: RelayLostEvents[];
}

const EMPTY: Snapshot = {
  at: 0, slowAt: 0, flows: 0, diskBytes: 0, partitions: 0, slow: { oldestNs: null, perNode: new Map() }, namespaces: [], lostEvents: [],
};

/**
 * No refresh reads the whole table (every few seconds, that would not do on a
 * store of billions of flows): each relay's newest flow is looked for among
 * the flows dated since the last refresh (RESCAN_NS more; the first refresh,
 * the last hour), and over the whole table once, in the background. Flows
 * stored long after their time (a relay catching up) move a relay's newest
 * when this flowkeeper stores them (noteStored), or once newer flows come.
 */
const FIRST_WINDOW_SECONDS = 3_600;
const RESCAN_NS = 120_000_000_000n;
/** How often the slow facts are read (SlowFacts). */
const SLOW_FACTS_INTERVAL_MS = 60_000;
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
  /** Each relay's newest stored flow (ns), as far as the reads so far found. */
  private readonly newestNs = new Map<string, bigint>();
  /** Where the last read of recent flows ended (ns). */
  private scannedTo = 0n;

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
    const previous = this.snapshot;
    const first = previous === EMPTY;
    const { flows, rollups, lostEvents } = readTables(this.ch.settings);
    const [total] = await this.ch.rows<{ n: string }>(`SELECT count() AS n FROM ${flows}`);
    const count = Number(total?.n ?? 0);
    const disk = await this.diskFacts();
    // Each relay's newest among the flows dated since the last refresh (and a margin); this flowkeeper's own relays also from its batches (noteStored).
    const scanFrom = first ? secondsBeforeNanos(FIRST_WINDOW_SECONDS) : this.scannedTo - RESCAN_NS;
    const scanTo = secondsBeforeNanos(0);
    for (const r of await this.ch.rows<{ relay: string; newest: string }>(`SELECT relay, max(time_ns) AS newest FROM ${flows} WHERE time_ns >= ${scanFrom} GROUP BY relay`)) {
      this.noteNewest(r.relay, BigInt(r.newest));
    }
    this.scannedTo = scanTo;
    // Namespaces by flow time over the whole hour GetNamespaces looks back over (flows may be stored well after their time: a relay's replay, a catch-up).
    const since = secondsBeforeNanos(NAMESPACE_WINDOW_SECONDS);
    const namespaces = await this.ch.rows<{ cluster: string; namespace: string; newest: string }>(
      // Aliases unlike the table's own columns (flows has a node `cluster`): 18.16 resolves aliases query-wide.
      `SELECT ep_cluster AS cluster, ep_namespace AS namespace, max(t) AS newest FROM (SELECT src_cluster AS ep_cluster, src_namespace AS ep_namespace, time_ns AS t FROM ${flows} WHERE time_ns >= ${since} UNION ALL SELECT dst_cluster AS ep_cluster, dst_namespace AS ep_namespace, time_ns AS t FROM ${flows} WHERE time_ns >= ${since}) WHERE ep_namespace != '' GROUP BY ep_cluster, ep_namespace ORDER BY ep_cluster, ep_namespace`,
    );
    if (first) this.readAllCheckpoints();
    const lost = await this.ch.rows<{ relay: string; source: string; node: string; events: string }>(
      `SELECT relay, source, node, sum(events) AS events FROM ${lostEvents} GROUP BY relay, source, node ORDER BY relay, source, node`,
    );
    // Read again when due, or when flows have come since the last read found none.
    const due = first || Date.now() - previous.slowAt >= SLOW_FACTS_INTERVAL_MS || (previous.slow.oldestNs === null && count > 0);
    const slow = due ? await this.slowFacts(flows, rollups, disk.firstDay) : previous.slow;
    return {
      at: Date.now(),
      slowAt: due ? Date.now() : previous.slowAt,
      flows: count,
      diskBytes: disk.bytes,
      partitions: disk.partitions,
      slow,
      namespaces: namespaces.map((r) => ({ cluster: r.cluster, namespace: r.namespace, minute: minuteOfNanos(BigInt(r.newest)) })),
      lostEvents: lost.map((r) => ({ relay: r.relay, source: Number(r.source), node: r.node, events: Number(r.events) })),
    };
  }

  private noteNewest(relay: string, ns: bigint): void {
    if ((this.newestNs.get(relay) ?? -1n) < ns) this.newestNs.set(relay, ns);
  }

  /** A batch this flowkeeper stored: its relay's newest flow is known at once, also while a relay catches up on flows older than the reads' window. */
  noteStored(relay: string, newest: FlowTime | null): void {
    if (newest) this.noteNewest(relay, toNanos(newest));
  }

  /** Bytes, partitions and the first day of the flows (every shard's with a cluster: the cluster table function reads system.parts on each). */
  private async diskFacts(): Promise<{ bytes: number; partitions: number; firstDay: string | null }> {
    const db = stringLiteral(this.ch.settings.database);
    const parts = this.ch.settings.cluster ? `cluster(${stringLiteral(this.ch.settings.cluster)}, system, parts)` : 'system.parts';
    const [disk] = await this.ch.rows<{ bytes: string; parts: string; first: string }>(`SELECT sum(bytes_on_disk) AS bytes, uniqExact(partition) AS parts, min(partition) AS first FROM ${parts} WHERE database = ${db} AND table = 'flows' AND active`);
    const firstDay = /^\d{4}-\d{2}-\d{2}$/.test(disk?.first ?? '') ? disk.first : null;
    return { bytes: Number(disk?.bytes ?? 0), partitions: Number(disk?.parts ?? 0), firstDay };
  }

  /**
   * Each relay's newest flow over the whole table, once, in the background: a
   * relay that has sent nothing within the first window (an idle one, or an
   * archive read by a querier) still has its checkpoint in status.
   */
  private readAllCheckpoints(): void {
    const { flows } = readTables(this.ch.settings);
    this.ch.rows<{ relay: string; newest: string }>(`SELECT relay, max(time_ns) AS newest FROM ${flows} GROUP BY relay`).then((rows) => {
      for (const r of rows) this.noteNewest(r.relay, BigInt(r.newest));
    }, (err: Error) => {
      this.lastError = err.message;
    });
  }

  /**
   * What is costly to read or slow to change, every SLOW_FACTS_INTERVAL_MS:
   * the oldest flow (looked for in its first day only) and flows per node
   * (from the rollups ClickHouse keeps, since the oldest flow).
   */
  private async slowFacts(flows: string, rollups: string, firstDay: string | null): Promise<SlowFacts> {
    const before = firstDay === null ? '' : ` WHERE time_ns < ${BigInt(Date.parse(`${firstDay}T00:00:00Z`) / 1000 + 86_400) * 1_000_000_000n}`;
    const [edge] = await this.ch.rows<{ t: string }>(`SELECT time_ns AS t FROM ${flows}${before} ORDER BY time_ns LIMIT 1`);
    const oldestNs = edge ? BigInt(edge.t) : null;
    const sinceMinute = oldestNs === null ? 0 : minuteOfNanos(oldestNs);
    const nodes = await this.ch.rows<{ node: string; n: string }>(`SELECT node, sum(flows) AS n FROM ${rollups} WHERE minute >= ${sinceMinute} GROUP BY node`);
    return { oldestNs, perNode: new Map(nodes.filter((r) => r.node !== '' && Number(r.n) > 0).map((r) => [r.node, Number(r.n)])) };
  }

  /** The newest flow of all relays. */
  private newest(): FlowTime | null {
    let newest: bigint | null = null;
    for (const t of this.newestNs.values()) if (newest === null || t > newest) newest = t;
    return newest === null ? null : fromNanos(newest);
  }

  private oldest(): FlowTime | null {
    const ns = this.snapshot.slow.oldestNs;
    return ns === null ? null : fromNanos(ns);
  }

  stats(): StoreStats {
    const { diskBytes, partitions, flows } = this.snapshot;
    return { usedBytes: diskBytes, fileBytes: diskBytes, partitions, flows, oldest: this.oldest(), newest: this.newest() };
  }

  diskBytes(): number {
    return this.snapshot.diskBytes;
  }

  count(): number {
    return this.snapshot.flows;
  }

  edge(order: 'asc' | 'desc'): FlowTime | null {
    return order === 'asc' ? this.oldest() : this.newest();
  }

  checkpoints(): Record<string, FlowTime> {
    return Object.fromEntries([...this.newestNs].map(([relay, t]) => [relay, fromNanos(t)]));
  }

  namespacesSince(minute: number): { cluster: string; namespace: string }[] {
    return this.snapshot.namespaces.filter((n) => n.minute >= minute).map(({ cluster, namespace }) => ({ cluster, namespace }));
  }

  flowsPerNode(): Map<string, number> {
    return this.snapshot.slow.perNode;
  }

  nodeNames(): string[] {
    return [...this.snapshot.slow.perNode.keys()].sort();
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

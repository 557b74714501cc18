import { InsertGroup } from '../store/clickhouse/writer.js';
import type { PreparedBatch } from '../store/clickhouse/writer.js';

/** When a gathered insert goes to ClickHouse. */
export interface GatherLimits {
  /** Flow rows that make an insert worth sending at once */
  rows: number;
  /** Longest a batch waits for others to join its insert (ms) */
  delayMs: number;
  /** Batches the pipeline may have in flight before it pauses the relays: an insert takes at most half of them */
  maxBatches: number;
}

interface Gathering {
  group: InsertGroup;
  openedAt: number;
  /** Send as soon as the insert in flight ends (a flush, a resume, closing) */
  urgent: boolean;
  stored: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Gathers the writer's prepared relay batches into large ClickHouse inserts,
 * one insert in flight at a time, so the server makes a few large parts
 * instead of one small part per relay batch (each part is a directory of
 * files; creating, merging and deleting them costs ClickHouse more than the
 * rows themselves). While an insert is in flight the next group gathers;
 * when it ends, the group goes once it holds `rows` flows, half the batches
 * the pipeline may have in flight (so the pipeline, which pauses the relays
 * once all are, can fill the next group meanwhile), or its first batch has
 * waited `delayMs`. Groups are
 * inserted in the order their batches came, so a relay's resume point (its
 * newest stored flow) never runs ahead of flows still waiting.
 */
export class InsertGatherer {
  private open: Gathering | null = null;
  private inserting: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  /** `insert` stores a group, retrying as long as it sees fit; its rejection gives the group up. */
  constructor(
    private readonly limits: GatherLimits,
    private readonly insert: (group: InsertGroup) => Promise<void>,
  ) {}

  /** Adds a prepared batch; resolves once the insert holding it is stored, rejects if that insert is given up. */
  add(batch: PreparedBatch): Promise<void> {
    const g = this.open ?? this.startGroup();
    g.group.add(batch);
    this.sendWhenDue();
    return g.stored;
  }

  /** Sends what is gathered as soon as possible; resolves once everything added so far is stored or given up. */
  async drain(): Promise<void> {
    const g = this.open;
    if (g) {
      g.urgent = true;
      this.sendWhenDue();
      await g.stored.catch(() => undefined);
    } else if (this.inserting) {
      await this.inserting;
    }
  }

  private startGroup(): Gathering {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const stored = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Every add() caller handles the outcome; this keeps a group nobody awaits any more from being an unhandled rejection.
    stored.catch(() => undefined);
    this.open = { group: new InsertGroup(), openedAt: performance.now(), urgent: false, stored, resolve, reject };
    return this.open;
  }

  private sendWhenDue(): void {
    const g = this.open;
    if (!g || this.inserting) return;
    const waited = performance.now() - g.openedAt;
    const due = g.urgent || g.group.rows >= this.limits.rows || g.group.batches.length >= Math.ceil(this.limits.maxBatches / 2) || waited >= this.limits.delayMs;
    if (!due) {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.sendWhenDue();
      }, this.limits.delayMs - waited);
      return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.open = null;
    this.inserting = this.insert(g.group).then(g.resolve, g.reject).finally(() => {
      this.inserting = null;
      this.sendWhenDue();
    });
  }
}

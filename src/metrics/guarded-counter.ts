import type { Counter, Registry } from 'prom-client';
import { Counter as PromCounter } from 'prom-client';

export const OTHER = 'other';

export interface GuardOptions {
  /** Most label sets per metric; new ones beyond it are counted under `other`. */
  maxSeries: number;
  /** Series not incremented for this long are removed. */
  ttlMs: number;
}

/**
 * A counter with a cardinality guard: at most `maxSeries` label sets; once
 * full, a new label set keeps its bounded labels (reason, direction, ...) and
 * has its unbounded ones (namespaces, workloads, policies) replaced by
 * "other". Series idle for `ttlMs` are expired, making room again.
 */
export class GuardedCounter<L extends string> {
  readonly counter: Counter<L>;
  private readonly lastSeen = new Map<string, { labels: Record<L, string>; at: number }>();
  private readonly overflow: Counter<'metric'>;
  private readonly unbounded: readonly L[];

  constructor(
    registry: Registry,
    readonly name: string,
    help: string,
    readonly labelNames: readonly L[],
    /** Labels with unbounded values, folded into "other" on overflow (ignored unless in labelNames). */
    unbounded: readonly string[],
    private readonly options: GuardOptions,
    overflow: Counter<'metric'>,
  ) {
    this.counter = new PromCounter({ name, help, labelNames: [...labelNames], registers: [registry] });
    this.overflow = overflow;
    this.unbounded = labelNames.filter((l) => unbounded.includes(l));
  }

  inc(labels: Record<L, string>, value: number, now = Date.now()): void {
    let key = this.key(labels);
    if (!this.lastSeen.has(key) && this.lastSeen.size >= this.options.maxSeries) {
      this.overflow.inc({ metric: this.name }, value);
      labels = { ...labels };
      for (const l of this.unbounded) labels[l] = OTHER;
      key = this.key(labels);
    }
    this.lastSeen.set(key, { labels, at: now });
    this.counter.inc(labels, value);
  }

  /** Removes series idle for longer than the TTL; returns how many. */
  expire(now = Date.now()): number {
    let removed = 0;
    for (const [key, entry] of this.lastSeen) {
      if (now - entry.at > this.options.ttlMs) {
        this.counter.remove(entry.labels);
        this.lastSeen.delete(key);
        removed++;
      }
    }
    return removed;
  }

  get series(): number {
    return this.lastSeen.size;
  }

  private key(labels: Record<L, string>): string {
    return this.labelNames.map((l) => labels[l]).join('\u0000');
  }
}

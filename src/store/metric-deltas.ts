import type { MetricDelta } from './rollup-dims.js';

/** Sums a batch's flows by metric dimensions: the deltas the Prometheus flow counters are fed from. */
export class MetricDeltaAccumulator {
  private readonly deltas = new Map<string, MetricDelta>();

  add(d: Omit<MetricDelta, 'flows'>, flows: number): void {
    const key = `${d.cluster},${d.verdict},${d.dropReason},${d.direction},${d.eventType},${d.srcWorkload},${d.dstWorkload},${d.deniedBy}`;
    const found = this.deltas.get(key);
    if (found) found.flows += flows;
    else this.deltas.set(key, { ...d, flows });
  }

  /** The sums so far, and a fresh start. */
  take(): MetricDelta[] {
    const out = [...this.deltas.values()];
    this.deltas.clear();
    return out;
  }
}

import type { FlowRow } from '../../flows/row.js';
import { rollupPort } from '../rollup-dims.js';
import type { MetricDelta } from '../rollup-dims.js';
import type { Db } from './sqlite.js';
import { MetricDeltaAccumulator } from '../metric-deltas.js';

/**
 * Accumulates per-minute counts for one write batch and upserts them into
 * rollup_1m in the batch's transaction.
 */
export class RollupAccumulator {
  private readonly counts = new Map<string, number>();
  private readonly upsert;

  constructor(db: Db) {
    this.upsert = db.prepare(`INSERT INTO rollup_1m
      (minute, cluster, verdict, drop_reason, direction, event_type, src_workload, dst_workload, src_labels, dst_labels, dst_port, l4, denied_by, flows)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT DO UPDATE SET flows = flows + excluded.flows`);
  }

  add(row: FlowRow): void {
    const key =
      `${Math.floor(row.seconds / 60)},${row.cluster},${row.verdict},${row.dropReason},${row.direction},` +
      `${row.eventType ?? 0},${row.srcWorkload},${row.dstWorkload},${row.srcLabels},${row.dstLabels},${rollupPort(row)},${row.l4},${row.deniedBy ?? 0}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /**
   * Writes the accumulated counts (call inside the batch transaction) and
   * returns them without minute, label sets, port and protocol: the per-batch deltas the
   * Prometheus counters are fed from, so metrics cost nothing per flow.
   */
  flush(): MetricDelta[] {
    const deltas = new MetricDeltaAccumulator();
    for (const [key, flows] of this.counts) {
      const dims = key.split(',').map(Number);
      this.upsert.run(...dims, flows);
      const [, cluster, verdict, dropReason, direction, eventType, srcWorkload, dstWorkload, , , , , deniedBy] = dims;
      deltas.add({ cluster, verdict, dropReason, direction, eventType, srcWorkload, dstWorkload, deniedBy }, flows);
    }
    this.counts.clear();
    return deltas.take();
  }

  discard(): void {
    this.counts.clear();
  }
}

import { Counter, Registry } from 'prom-client';
import { join } from 'node:path';
import { FlowMetrics } from '../../src/metrics/flow-metrics.js';
import { MIGRATIONS_DIR } from '../../src/paths.js';
import { StoreAggregateLabels } from '../../src/store/sqlite/aggregate.js';
import { migrate } from '../../src/store/sqlite/migrate.js';
import { FlowReader } from '../../src/store/sqlite/reader.js';
import type { MetricDelta } from '../../src/store/rollup-dims.js';
import { openDatabase } from '../../src/store/sqlite/sqlite.js';
import { FlowWriter } from '../../src/store/sqlite/writer.js';
import { tempDir } from '../helpers/harness.js';
import type { Figure } from './measure.js';
import { buildTemplates, templateBatches } from './templates.js';

const BATCH = 4096;

/**
 * The flow metrics' own cost, measured directly: the writer hands each batch's
 * rollup deltas to FlowMetrics.observe on the main thread; compare that time
 * with the time to decode and store the same batches (the rest of ingest).
 */
export function benchMetricsCost(flows: number): Figure[] {
  const { dir, cleanup } = tempDir('flowkeeper-bench-m-');
  try {
    const db = openDatabase(join(dir, 'm.db'));
    migrate(db, MIGRATIONS_DIR);
    const writer = new FlowWriter(db, 5);
    const templates = buildTemplates(20_000, 9);
    const batches: MetricDelta[][] = [];
    let writeMs = 0;
    const start = Math.floor(Date.now() / 1000) - 3600;
    const timeOf = (i: number): { seconds: number; nanos: number } => ({ seconds: start + Math.floor(i / 30_000), nanos: (i % 30_000) * 30_000 });
    for (const { buf, offsets } of templateBatches(templates, flows, BATCH, timeOf)) {
      const t0 = performance.now();
      batches.push(writer.writeBatch('bench', buf, offsets).metrics);
      writeMs += performance.now() - t0;
    }
    const reader = new FlowReader(db);
    const registry = new Registry();
    const overflow = new Counter({ name: 'overflow_total', help: 'x', labelNames: ['metric'], registers: [registry] });
    const metrics = new FlowMetrics(registry, new StoreAggregateLabels(db, reader.dict), { maxSeries: 2000, ttlMs: 900_000 }, false, overflow);
    metrics.observe(batches[0]); // warm the label caches, as a running service has
    const t0 = performance.now();
    for (const deltas of batches) metrics.observe(deltas);
    const metricsMs = performance.now() - t0;
    db.close();
    return [{
      name: 'flow metrics cost relative to decode + store',
      value: (metricsMs / writeMs) * 100,
      unit: '%',
      target: { op: '<=', value: 10 },
      note: `${((metricsMs * 1000) / flows).toFixed(3)} µs/flow for metrics vs ${((writeMs * 1000) / flows).toFixed(2)} µs/flow decode+store, ${flows.toLocaleString('en-US')} flows in ${batches.length} batches`,
    }];
  } finally {
    cleanup();
  }
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { IngestPipeline } from '../src/ingest/pipeline.js';
import { MIGRATIONS_DIR } from '../src/paths.js';
import { createLogger } from '../src/log.js';
import { GetFlowsResponseType } from '../src/flows/schema.js';
import { TrafficGenerator } from '../src/sim/traffic.js';
import { tempDir } from './helpers/harness.js';

test('the ingest queue is bounded: push() asks to pause at the limit and drains once the writer catches up', async () => {
  const { dir, cleanup } = tempDir();
  const pipeline = await IngestPipeline.start(
    {
      dbPath: join(dir, 'fk.db'), dbMaxBytes: 0, onDamaged: 'refuse', migrationsDir: MIGRATIONS_DIR, overlapSeconds: 5,
      retention: { maxAgeSeconds: 86400, maxBytes: 0, rollupMaxAgeSeconds: 86400 }, retentionIntervalMs: 60_000,
      batchSize: 50, queueBatches: 2, flushIntervalMs: 1000,
    },
    createLogger('silent'),
  );
  try {
    const gen = new TrafficGenerator(2);
    const messages: Buffer[] = [];
    while (messages.length < 500) {
      for (const f of gen.next(Date.now())) messages.push(Buffer.from(GetFlowsResponseType.encode(GetFlowsResponseType.fromObject({ flow: f.flow })).finish()));
    }
    let pausedAt = -1;
    for (let i = 0; i < messages.length; i++) {
      if (!pipeline.push('r', messages[i]) && pausedAt < 0) pausedAt = i;
      assert.ok(pipeline.stats.inFlightBatches <= 2 || pausedAt >= 0, 'never more batches in flight than allowed without asking to pause');
      if (pausedAt >= 0) break;
    }
    assert.equal(pausedAt, 99, 'the second full batch fills the queue');
    await new Promise<void>((resolve) => pipeline.onceDrained(resolve));
    assert.ok(pipeline.stats.inFlightBatches < 2);
    for (let i = pausedAt + 1; i < messages.length; i++) {
      if (!pipeline.push('r', messages[i])) await new Promise<void>((resolve) => pipeline.onceDrained(resolve));
    }
    await pipeline.flush();
    assert.equal(pipeline.stats.stored, messages.length);
    assert.equal(pipeline.stats.queuedMessages, 0);
  } finally {
    await pipeline.close();
    cleanup();
  }
});

import { setTimeout as wait } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { nameThread } from '../thread-priority.js';
import { FlowkeeperError } from '../errors.js';
import { ClickHouseHttp } from '../store/clickhouse/http.js';
import { featuresOf, migrateClickHouse } from '../store/clickhouse/migrate.js';
import { dropExpiredPartitions } from '../store/clickhouse/retention.js';
import { ensureDistributedTables } from '../store/clickhouse/cluster.js';
import { ClickHouseFlowWriter } from '../store/clickhouse/writer.js';
import type { InsertGroup, PreparedBatch } from '../store/clickhouse/writer.js';
import { InsertGatherer } from './insert-gatherer.js';
import { reportHeap } from './heap-report.js';
import { storageRetryDelayMs } from './storage-retry.js';
import type { ClickHouseWorkerSettings, WorkerReply, WorkerRequest } from './protocol.js';

/**
 * The writer thread for the ClickHouse store: turns raw GetFlowsResponse
 * batches into RowBinary rows as they arrive (handing each batch's buffer
 * straight back), and gathers them into large inserts, one in flight at a time
 * in arrival order (InsertGatherer). An insert ClickHouse refuses or cannot
 * take (down, overloaded) is kept and retried with backoff, idempotently (see
 * ClickHouseFlowWriter.commit); its batches stay unanswered meanwhile, so the
 * relay streams stay paused by the pipeline's backpressure and resume where
 * they stopped once ClickHouse answers.
 */
const settings = workerData as ClickHouseWorkerSettings;
const port = parentPort!;
nameThread('fk-writer');
const reply = (m: WorkerReply): void => port.postMessage(m);

async function start(): Promise<void> {
  const ch = new ClickHouseHttp(settings.clickhouse);
  let writer: ClickHouseFlowWriter;
  try {
    const features = featuresOf(await ch.version());
    const migrations = await migrateClickHouse(ch, settings.migrationsDir, features);
    await ensureDistributedTables(ch);
    writer = new ClickHouseFlowWriter(ch, settings.overlapSeconds);
    reply({ type: 'ready', migrations, movedAside: null, engine: { version: features.version, missing: features.missing } });
  } catch (err) {
    reply({ type: 'fatal', message: (err as Error).message, code: (err as { code?: string }).code });
    return;
  }

  const retain = async (): Promise<void> => {
    try {
      await dropExpiredPartitions(ch, settings.retentionSeconds);
      await dropExpiredPartitions(ch, settings.rollupRetentionSeconds, Date.now() / 1000, 'flows_1m');
      await dropExpiredPartitions(ch, settings.rollupRetentionSeconds, Date.now() / 1000, 'lost_events');
    } catch (err) {
      reply({ type: 'warning', message: `retention pass failed (retried next interval): ${(err as Error).message}` });
    }
  };
  void retain();
  const timer = setInterval(() => void retain(), settings.retentionIntervalMs);
  reportHeap(reply);

  /** Since when, and why, inserts have been failing (null while they succeed). */
  let failing: { since: number; message: string } | null = null;
  let closing = false;

  /** Keeps retrying `attempt` while ClickHouse fails it; other errors (a bug, a bad statement) fail at once. */
  const withRetry = async <T>(attempt: () => Promise<T>): Promise<T> => {
    for (let n = 0; ; n++) {
      try {
        const result = await attempt();
        if (failing) {
          reply({ type: 'storage', ok: true, since: failing.since, message: failing.message });
          failing = null;
        }
        return result;
      } catch (err) {
        if (!(err instanceof FlowkeeperError) || err.code !== 'FLOWKEEPER_ERR_STORAGE' || closing) throw err;
        if (!failing) {
          failing = { since: Date.now(), message: err.message };
          reply({ type: 'storage', ok: false, since: failing.since, message: err.message });
        } else {
          reply({ type: 'warning', message: `ClickHouse still failing (attempt ${n + 1}): ${err.message}` });
        }
        await wait(storageRetryDelayMs(n));
      }
    }
  };

  const gatherer = new InsertGatherer(settings.insert, async (group: InsertGroup) => {
    try {
      await withRetry(() => writer.commit(group));
    } catch (err) {
      for (const batch of group.batches) writer.abandon(batch);
      throw err;
    }
  });

  const takeBatch = (req: Extract<WorkerRequest, { type: 'batch' }>): void => {
    const started = performance.now();
    let stored: Promise<void>;
    let batch: PreparedBatch;
    try {
      batch = writer.prepare(req.relay, Buffer.from(req.buf), req.offsets);
      stored = gatherer.add(batch);
    } catch (err) {
      reply({ type: 'failed', id: req.id, message: (err as Error).message });
      return;
    } finally {
      // The rows are copied out: the buffer goes back to the main thread for its next batch.
      port.postMessage({ type: 'buffer', buf: req.buf } satisfies WorkerReply, [req.buf]);
    }
    const { result } = batch;
    stored.then(
      () => reply({ type: 'done', id: req.id, summary: { ...result, received: req.offsets.length - 1, malformedSample: null, relay: req.relay, writeMs: performance.now() - started } }),
      (err: Error) => reply({ type: 'failed', id: req.id, message: err.message }),
    );
  };

  const handle = async (req: Extract<WorkerRequest, { type: 'resume' | 'close' }>): Promise<void> => {
    try {
      switch (req.type) {
        case 'resume':
          // The relay's newest stored flow is only known once what it sent before is in.
          await gatherer.drain();
          reply({ type: 'resumed', id: req.id, since: await withRetry(() => writer.resume(req.relay)) });
          break;
        case 'close':
          await gatherer.drain();
          closing = true;
          clearInterval(timer);
          reply({ type: 'closed', id: req.id });
          port.close();
          break;
      }
    } catch (err) {
      reply({ type: 'failed', id: req.id, message: (err as Error).message });
    }
  };

  // Batches are prepared as they come, in order; resume and close wait for the inserts before them.
  let queue = Promise.resolve();
  port.on('message', (req: WorkerRequest) => {
    if (req.type === 'batch') takeBatch(req);
    else if (req.type === 'flush') void gatherer.drain();
    else queue = queue.then(() => handle(req));
  });
}

void start();

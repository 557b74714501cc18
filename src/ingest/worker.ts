import { parentPort, workerData } from 'node:worker_threads';
import { nameThread } from '../thread-priority.js';
import { migrate } from '../store/sqlite/migrate.js';
import { isStorageFailure, openDatabase } from '../store/sqlite/sqlite.js';
import { FlowWriter } from '../store/sqlite/writer.js';
import { nearlyFull, retentionBytes } from '../store/sqlite/space.js';
import { findDamage, moveAside } from '../store/sqlite/integrity.js';
import { reportHeap } from './heap-report.js';
import { storageRetryDelayMs } from './storage-retry.js';
import type { SqliteWorkerSettings, WorkerReply, WorkerRequest } from './protocol.js';

/**
 * The writer thread: owns the only writing SQLite connection, decodes raw
 * GetFlowsResponse batches and stores them. Runs beside the main thread so
 * decoding and SQLite use the second core.
 */
const settings = workerData as SqliteWorkerSettings;
const port = parentPort!;
nameThread('fk-writer');
const reply = (m: WorkerReply): void => port.postMessage(m);

function start(): void {
  let db;
  let writer: FlowWriter;
  try {
    let movedAside: { path: string; problem: string } | null = null;
    const problem = findDamage(settings.dbPath);
    if (problem) {
      if (settings.onDamaged === 'refuse') {
        reply({ type: 'fatal', code: 'FLOWKEEPER_ERR_DAMAGED_DB', message: `the database ${settings.dbPath} is damaged (${problem}); nothing was written to it. Move it aside (mv ${settings.dbPath} ${settings.dbPath}.damaged; also its -wal and -shm files) and start again to begin a new store, or restart with --on-damaged-db move-aside` });
        return;
      }
      movedAside = { path: moveAside(settings.dbPath), problem };
    }
    db = openDatabase(settings.dbPath, { maxBytes: settings.dbMaxBytes });
    const migrations = migrate(db, settings.migrationsDir);
    writer = new FlowWriter(db, settings.overlapSeconds);
    reply({ type: 'ready', migrations, movedAside });
  } catch (err) {
    reply({ type: 'fatal', message: (err as Error).message, code: (err as { code?: string }).code });
    return;
  }
  const database = db;
  const retain = (): void => {
    writer.enforceRetention({ ...settings.retention, maxBytes: retentionBytes(settings.retention.maxBytes, settings.dbPath, settings.dbMaxBytes) });
    // Whatever the size setting says, a nearly full disk costs the oldest partitions first, not new flows.
    while (nearlyFull(settings.dbPath)) {
      const hour = writer.dropOldestPartition();
      if (hour === null) break;
      reply({ type: 'emergency-retention', hour });
    }
  };
  try {
    // A store that sat idle past its retention is trimmed before new flows arrive.
    retain();
  } catch (err) {
    reply({ type: 'warning', message: `retention pass failed: ${(err as Error).message}` });
  }
  const timer = setInterval(() => {
    try {
      // Class counts of a quiet stream are written here rather than with the next batch.
      writer.flushClasses();
      retain();
    } catch (err) {
      // Retried next interval; the main thread logs it.
      reply({ type: 'warning', message: `retention pass failed: ${(err as Error).message}` });
    }
  }, settings.retentionIntervalMs);

  reportHeap(reply);

  /** Since when, and why, writes have been failing (null while they succeed). */
  let failing: { since: number; message: string } | null = null;

  /**
   * Writes a batch, and keeps retrying it while storage fails (disk full, I/O
   * error, read-only file): first by freeing the oldest partition as retention
   * would, then by waiting. The batch is never dropped; meanwhile no further
   * batch is taken, so the relay streams stay paused by backpressure.
   */
  const writeWithRetry = (relay: string, buf: Buffer, offsets: Uint32Array) => {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = writer.writeBatch(relay, buf, offsets);
        if (failing) {
          reply({ type: 'storage', ok: true, since: failing.since, message: failing.message });
          failing = null;
        }
        return result;
      } catch (err) {
        if (!isStorageFailure(err)) throw err;
        const message = `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`;
        if (!failing) {
          failing = { since: Date.now(), message };
          reply({ type: 'storage', ok: false, since: failing.since, message });
        } else {
          reply({ type: 'warning', message: `storage still failing (attempt ${attempt + 1}): ${message}` });
        }
        // Only a full store is helped by dropping old flows; an I/O error or a read-only file is waited out.
        const freed = (err as { code?: string }).code === 'SQLITE_FULL' ? dropOldestOrNull(writer) : null;
        if (freed !== null) {
          reply({ type: 'emergency-retention', hour: freed });
          continue;
        }
        sleep(storageRetryDelayMs(attempt));
      }
    }
  };

  port.on('message', (req: WorkerRequest) => {
    // Each batch is stored as it comes: there is nothing gathered to flush.
    if (req.type === 'flush') return;
    try {
      switch (req.type) {
        case 'batch': {
          const started = performance.now();
          const result = writeWithRetry(req.relay, Buffer.from(req.buf), req.offsets);
          // The buffer goes back to the main thread for the next batch (no garbage per batch).
          const done: WorkerReply = { type: 'done', id: req.id, summary: { ...result, relay: req.relay, writeMs: performance.now() - started }, buf: req.buf };
          port.postMessage(done, [req.buf]);
          break;
        }
        case 'resume':
          reply({ type: 'resumed', id: req.id, since: writer.resume(req.relay) });
          break;
        case 'close':
          clearInterval(timer);
          writer.flushClasses();
          try {
            database.pragma('wal_checkpoint(TRUNCATE)');
          } catch (err) {
            // A full disk can refuse the checkpoint; the log is durable and replayed at the next start.
            reply({ type: 'warning', message: `closing: the write-ahead log could not be folded into the database (${(err as Error).message}); it stays beside it and SQLite replays it at the next start, so nothing stored is lost` });
          }
          database.close();
          reply({ type: 'closed', id: req.id });
          port.close();
          break;
      }
    } catch (err) {
      reply({ type: 'failed', id: req.id, message: (err as Error).message });
    }
  });
}

/** Drops the oldest partition, or null when there is none to drop or the drop itself fails (the batch is then retried later). */
function dropOldestOrNull(writer: FlowWriter): number | null {
  try {
    return writer.dropOldestPartition();
  } catch {
    return null;
  }
}

/** Blocks this worker thread (never the main thread) for `ms`. */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

start();

import { parentPort, workerData } from 'node:worker_threads';
import { migrate } from '../store/migrate.js';
import { openDatabase } from '../store/sqlite.js';
import { FlowWriter } from '../store/writer.js';
import type { WorkerReply, WorkerRequest, WorkerSettings } from './protocol.js';

/**
 * The writer thread: owns the only writing SQLite connection, decodes raw
 * GetFlowsResponse batches and stores them. Runs beside the main thread so
 * decoding and SQLite use the second core.
 */
const settings = workerData as WorkerSettings;
const port = parentPort!;
const reply = (m: WorkerReply): void => port.postMessage(m);

function start(): void {
  let db;
  let writer: FlowWriter;
  try {
    db = openDatabase(settings.dbPath);
    const migrations = migrate(db, settings.migrationsDir);
    writer = new FlowWriter(db, settings.overlapSeconds);
    reply({ type: 'ready', migrations });
  } catch (err) {
    reply({ type: 'fatal', message: (err as Error).message, code: (err as { code?: string }).code });
    return;
  }
  const database = db;
  const retain = (): void => {
    writer.enforceRetention(settings.retention);
  };
  try {
    // A store that sat idle past its retention is trimmed before new flows arrive.
    retain();
  } catch (err) {
    reply({ type: 'warning', message: `retention pass failed: ${(err as Error).message}` });
  }
  const timer = setInterval(() => {
    try {
      retain();
    } catch (err) {
      // Retried next interval; the main thread logs it.
      reply({ type: 'warning', message: `retention pass failed: ${(err as Error).message}` });
    }
  }, settings.retentionIntervalMs);

  port.on('message', (req: WorkerRequest) => {
    try {
      switch (req.type) {
        case 'batch': {
          const started = performance.now();
          const result = writer.writeBatch(req.relay, Buffer.from(req.buf), req.offsets);
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
          database.pragma('wal_checkpoint(TRUNCATE)');
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

start();

import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { FlowReader } from '../store/reader.js';
import { openDatabase } from '../store/sqlite.js';
import { runJob, toJobError, transferables } from './jobs.js';
import type { QueryJob } from './jobs.js';
import { QueryService } from './service.js';
import type { QueryLimits } from './service.js';

/**
 * A query worker: runs queries on its own read-only connection (WAL lets it
 * read while the writer thread writes), one at a time, off the main thread.
 */
export interface QueryWorkerSettings {
  dbPath: string;
  budgetMs: number;
  limits: QueryLimits;
  /** Int32Array(1) over it: the pool sets it to 1 to cancel the running query. */
  cancel: SharedArrayBuffer;
  /** Scheduling priority of this thread (nice, 0–19): ingest and the API come first. */
  nice: number;
}

export type QueryWorkerMessage = { id: number; answer: unknown } | { id: number; error: ReturnType<typeof toJobError> };

const settings = workerData as QueryWorkerSettings;
const port = parentPort!;

/** Lowers this thread's priority (Linux: a thread is a task with its own nice value). */
function lowerPriority(nice: number): void {
  if (nice <= 0) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid)) setPriority(tid, nice);
  } catch {
    // Not Linux, or not allowed: queries run at normal priority.
  }
}

lowerPriority(settings.nice);
const db = openDatabase(settings.dbPath, { readonly: true });
const service = new QueryService(db, new FlowReader(db), settings.budgetMs, settings.limits, { onEventLoop: false });
const cancel = new Int32Array(settings.cancel);

port.on('message', (msg: { id: number; job: QueryJob }) => {
  let reply: QueryWorkerMessage;
  let transfer: ArrayBuffer[] = [];
  try {
    const answer = runJob(service, msg.job, cancel);
    transfer = transferables(answer);
    reply = { id: msg.id, answer };
  } catch (err) {
    reply = { id: msg.id, error: toJobError(err) };
  }
  port.postMessage(reply, transfer);
});

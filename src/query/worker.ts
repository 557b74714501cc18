import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority, nameThread } from '../thread-priority.js';
import { ClickHouseHttp } from '../store/clickhouse/http.js';
import type { ClickHouseSettings } from '../store/clickhouse/http.js';
import { ClickHouseQueries } from '../store/clickhouse/queries.js';
import type { QueryEngine } from './engine.js';
import { runJob, toJobError, transferables } from './jobs.js';
import type { QueryJob } from './jobs.js';
import type { QueryLimits } from './limits.js';

/**
 * A query worker: runs queries on its own read-only connection (WAL lets it
 * read while the writer thread writes), one at a time, off the main thread.
 */
export interface QueryWorkerSettings {
  /** The store queries read: a SQLite file (read-only connection) or a ClickHouse server. */
  store: QueryStore;
  budgetMs: number;
  limits: QueryLimits;
  /** Int32Array(1) over it: the pool sets it to 1 to cancel the running query. */
  cancel: SharedArrayBuffer;
  /** Scheduling priority of this thread (nice, 0–19): ingest and the API come first. */
  nice: number;
}

export type QueryStore = { engine: 'sqlite'; dbPath: string } | { engine: 'clickhouse'; clickhouse: ClickHouseSettings };

export type QueryWorkerMessage = { id: number; answer: unknown } | { id: number; error: ReturnType<typeof toJobError> };

const settings = workerData as QueryWorkerSettings;
const port = parentPort!;
nameThread('fk-query');

// SCHED_IDLE as well as nice: with 8 heavy queries running, full-speed ingest lost 13–15 % instead of 30 % (npm run bench, phase contention).
lowerThreadPriority(settings.nice, true);
/** The engine on this thread's own connection (SQLite's is loaded only where it is used). */
async function openEngine(store: QueryStore): Promise<QueryEngine> {
  if (store.engine === 'clickhouse') return new ClickHouseQueries(new ClickHouseHttp(store.clickhouse), settings.budgetMs, settings.limits);
  const [{ openDatabase }, { FlowReader }, { QueryService }] = await Promise.all([import('../store/sqlite/sqlite.js'), import('../store/sqlite/reader.js'), import('../store/sqlite/queries.js')]);
  const db = openDatabase(store.dbPath, { readonly: true });
  return new QueryService(db, new FlowReader(db), settings.budgetMs, settings.limits, { onEventLoop: false });
}

const engine = openEngine(settings.store);
const cancel = new Int32Array(settings.cancel);

// The pool sends a thread one job at a time, so an async job never overlaps another.
port.on('message', async (msg: { id: number; job: QueryJob }) => {
  let reply: QueryWorkerMessage;
  let transfer: ArrayBuffer[] = [];
  try {
    const answer = await runJob(await engine, msg.job, cancel);
    transfer = transferables(answer);
    reply = { id: msg.id, answer };
  } catch (err) {
    reply = { id: msg.id, error: toJobError(err) };
  }
  port.postMessage(reply, transfer);
});

import { Worker } from 'node:worker_threads';
import { FlowkeeperError } from '../errors.js';
import { aggregateJob, classesJob, flowsJob, fromJobError, runJob } from './jobs.js';
import type { AggregateAnswer, FlowsAnswer, FlowsOutput, HistoryAnswer, HistoryJob, JobAnswer, QueryJob } from './jobs.js';
import type { AggregateRequest, FlowClassesRequest, FlowsRequest, QueryEngine } from './engine.js';
import type { FlowClasses } from '../store/flow-classes.js';
import type { QueryLimits } from './limits.js';
import type { QueryStore, QueryWorkerMessage, QueryWorkerSettings } from './worker.js';

export interface QueryPoolOptions {
  store: QueryStore;
  budgetMs: number;
  limits: QueryLimits;
  /** Query worker threads (0: queries run on the main thread, through its gate). */
  workers: number;
  /** Queries that may wait for a worker; more are refused with 429. */
  queueLimit: number;
  /** Scheduling priority (nice) of the query threads. */
  nice: number;
}

interface Pending {
  job: QueryJob;
  resolve: (answer: unknown) => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
}

interface Slot {
  worker: Worker;
  cancel: Int32Array;
  running: (Pending & { id: number }) | null;
  idleSince: number;
}

/**
 * V8 heap limits of a query thread. Queries hold at most one page or one
 * aggregate's groups, so they need little; a thread over its limit dies and
 * only its query fails (500), never the service.
 */
const QUERY_THREAD_HEAP = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 24 };

/**
 * A query thread idle this long is stopped, so an idle flowkeeper holds no query
 * thread's memory (~30 MB each); the next query starts one again (~0.2 s).
 */
const IDLE_MS = 60_000;
const RETIRE_CHECK_MS = 10_000;

/** Stops listening for the client going away (the query left the queue or finished). */
function detach(p: Pending): void {
  if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
}

export interface QueryPoolStats {
  workers: number;
  running: number;
  queued: number;
  refused: number;
  cancelled: number;
}

/**
 * Runs queries in worker threads, each on its own read-only connection, so a
 * heavy query never stalls ingest, the live stream or the probes: at most
 * `workers` run at once, up to `queueLimit` wait, the rest get 429. A query
 * whose client went away is dropped from the queue or cancelled where it runs.
 */
export class QueryPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private refused = 0;
  private cancelled = 0;
  private readonly retireTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: QueryPoolOptions,
    /** Runs queries inline when options.workers is 0. */
    private readonly inline: QueryEngine,
  ) {
    if (options.workers > 0) {
      this.retireTimer = setInterval(() => this.retireIdle(), RETIRE_CHECK_MS);
      this.retireTimer.unref();
    }
  }

  stats(): QueryPoolStats {
    return { workers: this.slots.length, running: this.slots.filter((s) => s.running).length, queued: this.queue.length, refused: this.refused, cancelled: this.cancelled };
  }

  flows(req: FlowsRequest, output: FlowsOutput, signal?: AbortSignal): Promise<FlowsAnswer> {
    return this.run(flowsJob(req, output), signal);
  }

  aggregate(req: AggregateRequest, signal?: AbortSignal): Promise<AggregateAnswer> {
    return this.run(aggregateJob(req), signal);
  }

  history(job: HistoryJob, signal?: AbortSignal): Promise<HistoryAnswer> {
    return this.run(job, signal);
  }

  /** Query threads that can run at once (1 when queries run inline). */
  get parallelism(): number {
    return Math.max(1, this.options.workers);
  }

  flowClasses(req: FlowClassesRequest, signal?: AbortSignal): Promise<FlowClasses> {
    return this.run(classesJob(req), signal);
  }

  /** Runs a job; `signal` aborts it when the client goes away. */
  run<J extends QueryJob>(job: J, signal?: AbortSignal): Promise<JobAnswer<J>> {
    if (this.closed) return Promise.reject(new FlowkeeperError('FLOWKEEPER_ERR_NOT_READY', 'flowkeeper is stopping'));
    if (this.options.workers === 0) {
      return runJob(this.inline, job) as Promise<JobAnswer<J>>;
    }
    return new Promise<JobAnswer<J>>((resolve, reject) => {
      const pending: Pending = { job, resolve: resolve as (a: unknown) => void, reject, signal, onAbort: null };
      if (signal?.aborted) {
        this.cancelled++;
        reject(new Error('query cancelled: the client went away'));
        return;
      }
      const slot = this.idleSlot();
      if (slot) {
        this.start(slot, pending);
        return;
      }
      if (this.queue.length >= this.options.queueLimit) {
        this.refused++;
        reject(new FlowkeeperError('FLOWKEEPER_ERR_BUSY', `all ${this.options.workers} query workers are busy and ${this.queue.length} queries wait; retry in a second (narrower queries finish sooner)`, undefined, 1));
        return;
      }
      pending.onAbort = () => {
        const at = this.queue.indexOf(pending);
        if (at < 0) return;
        this.queue.splice(at, 1);
        this.cancelled++;
        reject(new Error('query cancelled: the client went away'));
      };
      signal?.addEventListener('abort', pending.onAbort, { once: true });
      this.queue.push(pending);
    });
  }

  private idleSlot(): Slot | null {
    const idle = this.slots.find((s) => s.running === null);
    if (idle) return idle;
    return this.slots.length < this.options.workers ? this.spawn() : null;
  }

  private spawn(): Slot {
    const cancel = new SharedArrayBuffer(4);
    const settings: QueryWorkerSettings = { store: this.options.store, budgetMs: this.options.budgetMs, limits: this.options.limits, cancel, nice: this.options.nice };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: settings, resourceLimits: QUERY_THREAD_HEAP });
    worker.unref();
    const slot: Slot = { worker, cancel: new Int32Array(cancel), running: null, idleSince: performance.now() };
    worker.on('message', (msg: QueryWorkerMessage) => this.finish(slot, msg));
    worker.on('error', (err) => this.lose(slot, err));
    worker.on('exit', (code) => this.lose(slot, new Error(`query worker exited (code ${code})`)));
    this.slots.push(slot);
    return slot;
  }

  private start(slot: Slot, pending: Pending): void {
    detach(pending);
    const running = { ...pending, id: this.nextId++ };
    running.onAbort = () => {
      if (slot.running?.id !== running.id) return;
      this.cancelled++;
      Atomics.store(slot.cancel, 0, 1);
    };
    pending.signal?.addEventListener('abort', running.onAbort, { once: true });
    Atomics.store(slot.cancel, 0, 0);
    slot.running = running;
    slot.worker.postMessage({ id: running.id, job: pending.job });
  }

  private finish(slot: Slot, msg: QueryWorkerMessage): void {
    const running = slot.running;
    if (!running || running.id !== msg.id) return;
    detach(running);
    slot.running = null;
    slot.idleSince = performance.now();
    if ('error' in msg) running.reject(fromJobError(msg.error));
    else running.resolve(msg.answer);
    this.next(slot);
  }

  private next(slot: Slot): void {
    const pending = this.queue.shift();
    if (pending) this.start(slot, pending);
  }

  /** A worker failed or exited: its query fails, the slot goes, and a new one serves the queue. */
  private lose(slot: Slot, err: Error): void {
    const at = this.slots.indexOf(slot);
    if (at < 0) return;
    this.slots.splice(at, 1);
    const running = slot.running;
    slot.running = null;
    if (running) {
      detach(running);
      running.reject(new FlowkeeperError('FLOWKEEPER_ERR_INTERNAL', `the query worker failed: ${err.message}`));
    }
    void slot.worker.terminate();
    if (!this.closed && this.queue.length > 0) this.next(this.spawn());
  }

  private retireIdle(): void {
    const now = performance.now();
    for (const slot of [...this.slots]) {
      if (slot.running === null && now - slot.idleSince > IDLE_MS) {
        this.slots.splice(this.slots.indexOf(slot), 1);
        void slot.worker.terminate();
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retireTimer) clearInterval(this.retireTimer);
    for (const p of this.queue.splice(0)) p.reject(new FlowkeeperError('FLOWKEEPER_ERR_NOT_READY', 'flowkeeper is stopping'));
    const slots = this.slots.splice(0);
    for (const s of slots) s.running?.reject(new FlowkeeperError('FLOWKEEPER_ERR_NOT_READY', 'flowkeeper is stopping'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

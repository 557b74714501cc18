import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { TransferListItem } from 'node:worker_threads';
import type { Logger } from '../log.js';
import { RateLimitedLog } from '../log.js';
import type { FlowSink } from '../relay/client.js';
import type { FlowTime } from '../flows/record.js';
import { packMessages } from '../flows/message-batch.js';
import type { BatchSummary } from './batch-summary.js';
import type { StoreEngineInfo, WorkerReply, WorkerRequest, WorkerSettings } from './protocol.js';

export type PipelineOptions = WorkerSettings & PipelineTuning;

interface PipelineTuning {
  /** Messages per write batch. */
  batchSize: number;
  /** Batches in flight to the writer before push() asks the relay stream to pause. */
  queueBatches: number;
  /** A partly filled batch is sent after this long. */
  flushIntervalMs: number;
}

export interface PipelineStats {
  received: number;
  stored: number;
  duplicates: number;
  malformed: number;
  /** Flows dated more than a minute ahead of this clock (stored, not used to resume). */
  futureDated: number;
  batches: number;
  writeErrors: number;
  inFlightBatches: number;
  queuedMessages: number;
  lastWriteMs: number;
  /** Set while writes fail (disk full, I/O error): since when (ms) and the last error. Batches are kept and retried. */
  storageFailingSince: number | null;
  storageError: string | null;
  /** Times storage started failing since start-up. */
  storageFailures: number;
  /** Raw partitions dropped early to make room. */
  emergencyDrops: number;
  /** Set when the start-up check found the database damaged and moved it aside. */
  damagedStore: { path: string; problem: string; at: number } | null;
}

interface Pending {
  messages: Buffer[];
  bytes: number;
}

/** Longest close() waits for the writer to store what it holds. */
const CLOSE_WAIT_MS = 10_000;

/**
 * Batch buffers kept for reuse. The SQLite writer hands a buffer back when its
 * batch is stored, the ClickHouse writer as soon as it has copied the rows out,
 * so a few cover the batches in flight; more are allocated when needed, not kept.
 */
const MAX_FREE_BUFFERS = 5;

/** Size batch buffers start at (a full batch of typical flows fits). */
const BATCH_BUFFER_BYTES = 4 * 1024 * 1024;
/**
 * The writer thread's young generation. Its garbage is short-lived (a batch's
 * rows), so a small nursery is collected quickly; V8's default lets it grow to
 * 32–48 MB that stay resident. 8 MB kept the demo's writer heap at 21–28 MB
 * instead of 45–50.
 */
const WRITER_THREAD_HEAP = { maxYoungGenerationSizeMb: 8 };

type Waiter = { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void };

/**
 * The main-thread side of ingest: collects raw messages per relay into batches,
 * ships them (one transferred buffer each) to the writer worker, and applies
 * backpressure: with `queueBatches` batches in flight, push() returns false and
 * the relay stream pauses until the writer catches up. Emits 'batch' with a
 * BatchSummary after each stored batch.
 */
export class IngestPipeline extends EventEmitter implements FlowSink {
  readonly stats: PipelineStats = {
    received: 0, stored: 0, duplicates: 0, malformed: 0, futureDated: 0, batches: 0, writeErrors: 0,
    inFlightBatches: 0, queuedMessages: 0, lastWriteMs: 0,
    storageFailingSince: null, storageError: null, storageFailures: 0, emergencyDrops: 0, damagedStore: null,
  };
  private readonly pending = new Map<string, Pending>();
  private readonly waiters = new Map<number, Waiter>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly freeBuffers: ArrayBuffer[] = [];
  private readonly drainCallbacks: (() => void)[] = [];
  private readonly warn: RateLimitedLog;
  /** The writer thread's V8 heap as it last reported it (bytes). */
  writerHeap: { heapUsed: number; heapTotal: number } | null = null;
  /** The storage engine's server and what it lacks (ClickHouse); null for SQLite. */
  engine: StoreEngineInfo | null = null;
  /** Sees every raw message as it arrives (the live stream hooks in here). */
  tap: ((message: Buffer) => void) | null = null;
  private nextId = 1;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    private readonly options: PipelineOptions,
    private readonly log: Logger,
  ) {
    super();
    this.warn = new RateLimitedLog(log);
    worker.on('message', (m: WorkerReply) => this.onReply(m));
    worker.on('error', (err) => {
      log.error({ err }, 'writer worker crashed');
      for (const w of this.waiters.values()) w.reject(err);
      this.waiters.clear();
      // Nothing can be stored any more: let the process owner restart the service.
      this.emit('fatal', err);
    });
    this.timer = setInterval(() => this.flushAll(), options.flushIntervalMs);
  }

  /** Starts the writer worker (which applies migrations) and resolves once it is ready. */
  static async start(options: PipelineOptions, log: Logger): Promise<IngestPipeline> {
    const script = options.engine === 'clickhouse' ? './clickhouse-worker.js' : './worker.js';
    const worker = new Worker(new URL(script, import.meta.url), { workerData: { ...options } satisfies WorkerSettings, resourceLimits: WRITER_THREAD_HEAP });
    const first = await new Promise<WorkerReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (first.type === 'fatal') {
      await worker.terminate();
      throw Object.assign(new Error(first.message), { code: first.code });
    }
    if (first.type === 'ready' && first.migrations.length > 0) log.info({ migrations: first.migrations }, 'applied migrations');
    const pipeline = new IngestPipeline(worker, options, log);
    if (first.type === 'ready') pipeline.engine = first.engine ?? null;
    if (first.type === 'ready' && first.movedAside) {
      pipeline.stats.damagedStore = { ...first.movedAside, at: Date.now() };
      log.error({ ...first.movedAside }, 'the database was damaged: moved it aside for inspection (sqlite3 <file> .recover) and started a new store; ingest resumes from what the relays still hold');
    }
    return pipeline;
  }

  push(relay: string, message: Buffer): boolean {
    this.tap?.(message);
    let p = this.pending.get(relay);
    if (!p) {
      p = { messages: [], bytes: 0 };
      this.pending.set(relay, p);
    }
    p.messages.push(message);
    p.bytes += message.length;
    this.stats.received++;
    this.stats.queuedMessages++;
    if (p.messages.length >= this.options.batchSize) this.send(relay);
    return this.stats.inFlightBatches < this.options.queueBatches;
  }

  onceDrained(fn: () => void): void {
    if (this.stats.inFlightBatches < this.options.queueBatches) fn();
    else this.drainCallbacks.push(fn);
  }

  async resume(relay: string): Promise<FlowTime | null> {
    this.send(relay);
    const reply = await this.request({ id: 0, type: 'resume', relay });
    return reply.type === 'resumed' ? reply.since : null;
  }

  /** Sends partial batches and waits until everything received so far is stored. */
  async flush(): Promise<void> {
    this.flushAll();
    this.worker.postMessage({ type: 'flush' } satisfies WorkerRequest);
    await Promise.all([...this.inFlight]);
  }

  /** Flushes, lets the worker checkpoint and close the database, and stops it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    // While storage fails the writer is retrying a batch and cannot answer: do not wait for it forever.
    const stored = await Promise.race([
      this.flush().then(() => this.request({ id: 0, type: 'close' })).then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), CLOSE_WAIT_MS).unref()),
    ]);
    if (!stored) {
      this.log.error({ batches: this.stats.inFlightBatches, messages: this.stats.queuedMessages, storageError: this.stats.storageError },
        'stopping while storage fails: these batches were not stored; on restart ingest resumes from the last stored flow');
    }
    await this.worker.terminate();
  }

  /** A batch buffer of at least `bytes`, reused from earlier batches when one is free. */
  private takeBuffer(bytes: number): ArrayBuffer {
    const i = this.freeBuffers.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return this.freeBuffers.splice(i, 1)[0];
    return new ArrayBuffer(Math.max(bytes, BATCH_BUFFER_BYTES));
  }

  private returnBuffer(buf: ArrayBuffer): void {
    if (this.freeBuffers.length < MAX_FREE_BUFFERS) this.freeBuffers.push(buf);
  }

  private flushAll(): void {
    for (const relay of this.pending.keys()) this.send(relay);
  }

  private send(relay: string): void {
    const p = this.pending.get(relay);
    if (!p || p.messages.length === 0) return;
    this.pending.delete(relay);
    const buf = this.takeBuffer(p.bytes);
    const offsets = packMessages(p.messages, new Uint8Array(buf));
    const count = p.messages.length;
    this.stats.inFlightBatches++;
    const done = this.request({ id: 0, type: 'batch', relay, buf, offsets }, [buf, offsets.buffer])
      .then((reply) => {
        if (reply.type === 'done') {
          if (reply.buf) this.returnBuffer(reply.buf);
          this.onStored(reply.summary);
        }
      })
      .catch((err: Error) => {
        this.stats.writeErrors++;
        this.log.error({ relay, messages: count, err: err.message }, 'writing a batch failed; its flows were not stored');
      })
      .finally(() => {
        this.stats.inFlightBatches--;
        this.stats.queuedMessages -= count;
        if (this.stats.inFlightBatches < this.options.queueBatches) {
          for (const fn of this.drainCallbacks.splice(0)) fn();
        }
        this.inFlight.delete(done);
      });
    this.inFlight.add(done);
  }

  private onStored(s: BatchSummary): void {
    this.stats.batches++;
    this.stats.stored += s.stored;
    this.stats.duplicates += s.duplicates;
    this.stats.malformed += s.malformed;
    this.stats.futureDated += s.futureDated;
    if (s.futureDated > 0) this.warn.warn(`future:${s.relay}`, { relay: s.relay, count: s.futureDated }, 'stored flows dated more than a minute in the future (clock skew?); they do not move the resume checkpoint');
    this.stats.lastWriteMs = s.writeMs;
    if (s.malformed > 0) this.warn.warn(`malformed:${s.relay}`, { relay: s.relay, count: s.malformed, sample: s.malformedSample }, 'skipped malformed relay messages');
    try {
      this.emit('batch', s);
    } catch (err) {
      // A listener's failure (status, metrics) must not look like a failed write.
      this.warn.warn('batch-listener', { err: (err as Error).message }, 'a batch listener failed');
    }
  }

  private request(req: WorkerRequest, transfer: TransferListItem[] = []): Promise<WorkerReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  private onReply(m: WorkerReply): void {
    if (m.type === 'warning') {
      this.warn.warn('worker', {}, m.message);
      return;
    }
    if (m.type === 'storage') {
      if (m.ok) {
        this.log.warn({ failedForSeconds: Math.round((Date.now() - m.since) / 1000) }, 'storage recovered; the kept batches are stored and ingest goes on');
        this.stats.storageFailingSince = null;
        this.stats.storageError = null;
      } else {
        this.log.error({ err: m.message }, 'storage is failing; keeping the batch and retrying, relay streams paused until writes succeed');
        this.stats.storageFailingSince = m.since;
        this.stats.storageError = m.message;
        this.stats.storageFailures++;
      }
      return;
    }
    if (m.type === 'buffer') {
      this.returnBuffer(m.buf);
      return;
    }
    if (m.type === 'heap') {
      this.writerHeap = { heapUsed: m.heapUsed, heapTotal: m.heapTotal };
      return;
    }
    if (m.type === 'emergency-retention') {
      this.stats.emergencyDrops++;
      this.log.warn({ hour: new Date(m.hour * 3600_000).toISOString() }, 'storage full: dropped the oldest raw partition early to make room');
      return;
    }
    if (!('id' in m)) return;
    const w = this.waiters.get(m.id);
    if (!w) return;
    this.waiters.delete(m.id);
    if (m.type === 'failed') w.reject(new Error(m.message));
    else w.resolve(m);
  }
}

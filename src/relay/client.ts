import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log.js';
import type { FlowTime } from '../flows/record.js';
import type { BatchSummary } from '../ingest/batch-summary.js';
import { Backoff } from './backoff.js';
import { Enums } from '../query/enums.js';
import { GET_FLOWS_PATH, ObserverClient, ObserverService } from './observer-service.js';
import type { RelaySettings, RelayTarget } from './relay-config.js';

/** Where the relay client hands raw GetFlowsResponse messages. */
export interface FlowSink {
  /** Waits until everything pushed for `relay` is stored; returns the time to resume from (null: nothing stored). */
  resume(relay: string): Promise<FlowTime | null>;
  /** Takes one raw message; false asks the caller to pause until `onceDrained` fires. */
  push(relay: string, message: Buffer): boolean;
  onceDrained(fn: () => void): void;
}

export type RelayState = 'connecting' | 'streaming' | 'backoff' | 'stopped';

/** uint64 max: with follow, "everything in the ring buffers, then follow" (the hubble CLI's --all). */
const ALL_FLOWS = '18446744073709551615';
const UNARY_DEADLINE_MS = 10_000;

export interface RelayStatus {
  name: string;
  address: string;
  tls: boolean;
  state: RelayState;
  connected: boolean;
  connectedAt: string | null;
  lastMessageAt: string | null;
  resumedFrom: string | null;
  reconnects: number;
  consecutiveFailures: number;
  lastError: string | null;
  lastErrorAt: string | null;
  messages: number;
  malformed: number;
  duplicates: number;
  lostEvents: Record<string, number>;
  nodeEvents: { at: string; state: string; nodes: string[]; message: string }[];
  server: Record<string, unknown> | null;
  nodes: Record<string, unknown>[];
}

const MAX_NODE_EVENTS = 50;

export interface RelayClientOptions {
  backoffInitialMs: number;
  backoffMaxMs: number;
  statusIntervalMs: number;
}

/**
 * Follows one hubble-relay's GetFlows stream forever: resumes from the store's
 * checkpoint, reconnects with exponential backoff and jitter after any stream
 * end, pauses the stream when the sink is full, and polls ServerStatus/GetNodes.
 */
export class RelayClient {
  private readonly client: grpc.Client;
  private readonly backoff: Backoff;
  private call: grpc.ClientReadableStream<Buffer> | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  readonly status: RelayStatus;

  constructor(
    private readonly target: RelayTarget,
    private readonly settings: RelaySettings,
    private readonly sink: FlowSink,
    private readonly log: Logger,
    private readonly options: RelayClientOptions,
  ) {
    this.client = new ObserverClient(target.address, settings.credentials, settings.channelOptions);
    this.backoff = new Backoff(options.backoffInitialMs, options.backoffMaxMs);
    this.status = {
      name: target.name, address: target.address, tls: settings.tls, state: 'connecting', connected: false,
      connectedAt: null, lastMessageAt: null, resumedFrom: null, reconnects: 0, consecutiveFailures: 0,
      lastError: null, lastErrorAt: null, messages: 0, malformed: 0, duplicates: 0, lostEvents: {},
      nodeEvents: [], server: null, nodes: [],
    };
  }

  get name(): string {
    return this.target.name;
  }

  start(): void {
    this.loop = this.run();
    void this.pollStatus();
    this.statusTimer = setInterval(() => void this.pollStatus(), this.options.statusIntervalMs);
    this.statusTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.status.state = 'stopped';
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.call?.cancel();
    this.wake?.();
    await this.loop;
    this.client.close();
  }

  /** Folds what the writer learned from this relay's messages into the status. */
  noteBatch(summary: BatchSummary): void {
    this.status.malformed += summary.malformed;
    this.status.duplicates += summary.duplicates;
    for (const l of summary.lostEvents) {
      const source = Enums.LostEventSource.valuesById[l.source] ?? String(l.source);
      this.status.lostEvents[source] = (this.status.lostEvents[source] ?? 0) + l.events;
    }
    for (const ev of summary.nodeStatus) {
      this.status.nodeEvents.push({ at: new Date().toISOString(), state: Enums.NodeState.valuesById[ev.state] ?? String(ev.state), nodes: ev.nodeNames, message: ev.message });
      if (this.status.nodeEvents.length > MAX_NODE_EVENTS) this.status.nodeEvents.shift();
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.status.state = 'connecting';
      let since: FlowTime | null;
      try {
        since = await this.sink.resume(this.target.name);
      } catch (err) {
        this.fail(err as Error);
        await this.sleep(this.backoff.next());
        continue;
      }
      if (this.stopped) break;
      await this.follow(since);
      if (this.stopped) break;
      this.status.reconnects++;
      this.status.state = 'backoff';
      const delay = this.backoff.next();
      this.log.warn({ relay: this.target.name, delayMs: delay, error: this.status.lastError }, 'relay stream ended; reconnecting');
      await this.sleep(delay);
    }
  }

  private follow(since: FlowTime | null): Promise<void> {
    const request: Record<string, unknown> = {
      follow: true,
      whitelist: this.settings.whitelist,
      blacklist: this.settings.blacklist,
      ...(since ? { since } : { number: ALL_FLOWS }),
    };
    this.status.resumedFrom = since ? new Date(since.seconds * 1000 + since.nanos / 1e6).toISOString() : null;
    return new Promise((resolve) => {
      const call = this.client.makeServerStreamRequest<Record<string, unknown>, Buffer>(
        GET_FLOWS_PATH,
        ObserverService.GetFlows.requestSerialize as (v: Record<string, unknown>) => Buffer,
        (b: Buffer) => b,
        request,
        new grpc.Metadata(),
        {},
      );
      this.call = call;
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        this.call = null;
        this.status.connected = false;
        resolve();
      };
      call.on('metadata', () => this.connected());
      call.on('data', (message: Buffer) => {
        if (!this.status.connected) this.connected();
        this.status.messages++;
        this.status.lastMessageAt = new Date().toISOString();
        if (!this.sink.push(this.target.name, message)) {
          call.pause();
          this.sink.onceDrained(() => call.resume());
        }
      });
      // 'status' is the one event every call ends with; 'error' only needs a listener.
      call.on('error', () => undefined);
      call.on('status', (st: grpc.StatusObject) => {
        if (!this.stopped) {
          this.fail(new Error(st.code === grpc.status.OK ? 'relay ended the GetFlows stream' : `${grpc.status[st.code]}: ${st.details}`));
        }
        finish();
      });
    });
  }

  private connected(): void {
    if (this.status.connected) return;
    this.status.connected = true;
    this.status.state = 'streaming';
    this.status.connectedAt = new Date().toISOString();
    this.status.consecutiveFailures = 0;
    this.backoff.reset();
    this.log.info({ relay: this.target.name, address: this.target.address, resumedFrom: this.status.resumedFrom }, 'relay stream open');
  }

  private fail(err: Error): void {
    this.status.consecutiveFailures++;
    this.status.lastError = err.message;
    this.status.lastErrorAt = new Date().toISOString();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }

  private async pollStatus(): Promise<void> {
    const unary = <T>(method: string): Promise<T> =>
      new Promise((resolve, reject) => {
        const fn = (this.client as unknown as Record<string, (req: object, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: T) => void) => void>)[method];
        fn.call(this.client, {}, { deadline: Date.now() + UNARY_DEADLINE_MS }, (err, res) => (err ? reject(err) : resolve(res)));
      });
    try {
      this.status.server = await unary<Record<string, unknown>>('ServerStatus');
      const nodes = await unary<{ nodes: Record<string, unknown>[] }>('GetNodes');
      this.status.nodes = nodes.nodes;
    } catch (err) {
      this.log.debug({ relay: this.target.name, err: (err as Error).message }, 'relay status poll failed');
    }
  }
}

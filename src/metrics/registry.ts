import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { IngestPipeline } from '../ingest/pipeline.js';
import type { BatchSummary } from '../ingest/batch-summary.js';
import type { LiveHub } from '../live/hub.js';
import type { RelayClient } from '../relay/client.js';
import type { MetricLabels } from './metric-labels.js';
import type { StoreFacts } from '../store/facts.js';
import type { QueryPoolStats } from '../query/pool.js';
import { FlowMetrics } from './flow-metrics.js';
import { Enums } from '../query/enums.js';
import type { GuardOptions } from './guarded-counter.js';

/** Lost-event sources as Hubble's own metric labels them (lower-case enum names). */
const lostSourceLabel = (source: number): string =>
  source === 0 ? 'unknown' : (Enums.LostEventSource.valuesById[source]?.toLowerCase() ?? String(source));

export interface MetricsSources {
  relays: RelayClient[];
  pipeline: IngestPipeline;
  facts: StoreFacts;
  hub: LiveHub;
  queries: { stats(): QueryPoolStats };
  /** Names behind the ids of the batches' metric deltas. */
  labels: MetricLabels;
  storeFileBytes: () => number;
  /** The store's byte budget (resolved --retention-size). */
  retentionBytes: () => number;
}

export interface MetricsOptions extends GuardOptions {
  workloadLabelsOnDrops: boolean;
}

/**
 * Every metric flowkeeper exports, on its own registry: the flow counters
 * (FlowMetrics), self-metrics of relays, ingest, store, WebSocket and HTTP,
 * and Node's default process metrics.
 */
export class FlowkeeperMetrics {
  readonly registry = new Registry();
  readonly flows: FlowMetrics;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly ingested: Counter<'relay'>;
  private readonly duplicates: Counter<'relay'>;
  private readonly malformed: Counter<'relay'>;
  private readonly lost: Counter<'relay' | 'source'>;
  private readonly batchWrite: Histogram;

  constructor(src: MetricsSources, options: MetricsOptions) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    const overflow = new Counter({ name: 'flowkeeper_metrics_series_overflow_total', help: 'Increments counted under "other" because a metric reached its series cap.', labelNames: ['metric'], registers: [r] });
    this.flows = new FlowMetrics(r, src.labels, options, options.workloadLabelsOnDrops, overflow);
    this.ingested = new Counter({ name: 'flowkeeper_flows_ingested_total', help: 'Flows stored, per relay.', labelNames: ['relay'], registers: [r] });
    this.duplicates = new Counter({ name: 'flowkeeper_duplicate_flows_dropped_total', help: 'Flows replayed by the relay after a reconnect and dropped as duplicates.', labelNames: ['relay'], registers: [r] });
    this.malformed = new Counter({ name: 'flowkeeper_malformed_messages_total', help: 'Relay messages that could not be decoded and were skipped.', labelNames: ['relay'], registers: [r] });
    this.lost = new Counter({ name: 'flowkeeper_lost_events_total', help: 'Events Hubble reported lost (lost_events messages), by source.', labelNames: ['relay', 'source'], registers: [r] });
    this.batchWrite = new Histogram({ name: 'flowkeeper_batch_write_duration_seconds', help: 'Time to decode and store one batch in SQLite.', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [r] });
    this.httpDuration = new Histogram({ name: 'flowkeeper_http_request_duration_seconds', help: 'HTTP API request duration.', labelNames: ['method', 'route', 'status'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [r] });

    const relayReconnects = new Map<string, number>();
    new Counter({
      name: 'flowkeeper_relay_reconnects_total', help: 'Times the GetFlows stream to a relay ended and was retried.', labelNames: ['relay'], registers: [r],
      collect() {
        for (const relay of src.relays) {
          const now = relay.status.reconnects;
          const delta = now - (relayReconnects.get(relay.name) ?? 0);
          if (delta > 0) this.inc({ relay: relay.name }, delta);
          else this.inc({ relay: relay.name }, 0);
          relayReconnects.set(relay.name, now);
        }
      },
    });
    new Gauge({ name: 'flowkeeper_relay_connected', help: '1 while the GetFlows stream to the relay is open.', labelNames: ['relay'], registers: [r],
      collect() { for (const relay of src.relays) this.set({ relay: relay.name }, relay.status.connected ? 1 : 0); } });
    new Gauge({ name: 'flowkeeper_store_relay_writers', help: 'Flowkeepers storing this relay\'s flows at once, for relays stored by more than one (each flow stored that many times; ClickHouse).', labelNames: ['relay'], registers: [r],
      collect() {
        this.reset();
        for (const s of src.facts.relaysWrittenTwice()) this.set({ relay: s.relay }, s.writers);
      } });
    new Gauge({ name: 'flowkeeper_ingest_lag_seconds', help: 'Now minus the time of the newest stored flow, per relay.', labelNames: ['relay'], registers: [r],
      collect() {
        const cps = src.facts.checkpoints();
        for (const relay of src.relays) {
          const cp = cps[relay.name];
          if (cp) this.set({ relay: relay.name }, Math.max(0, Date.now() / 1000 - (cp.seconds + cp.nanos / 1e9)));
        }
      } });
    new Gauge({ name: 'flowkeeper_ingest_queue_messages', help: 'Messages received but not yet stored (bounded: the relay stream pauses when full).', registers: [r],
      collect() { this.set(src.pipeline.stats.queuedMessages); } });
    new Gauge({ name: 'flowkeeper_ingest_queue_batches', help: 'Batches in flight to the writer.', registers: [r],
      collect() { this.set(src.pipeline.stats.inFlightBatches); } });
    new Gauge({ name: 'flowkeeper_store_bytes', help: 'Size of the SQLite database files.', registers: [r],
      collect() { this.set(src.storeFileBytes()); } });
    new Gauge({ name: 'flowkeeper_store_size_limit_bytes', help: 'The store\'s byte budget: --retention-size, resolved for auto (0 = none).', registers: [r],
      collect() { this.set(src.retentionBytes()); } });
    new Gauge({ name: 'flowkeeper_store_flows', help: 'Raw flows stored.', registers: [r],
      collect() { this.set(src.facts.count()); } });
    new Gauge({ name: 'flowkeeper_store_oldest_flow_age_seconds', help: 'Age of the oldest stored raw flow.', registers: [r],
      collect() {
        const oldest = src.facts.edge('asc');
        this.set(oldest ? Math.max(0, Date.now() / 1000 - oldest.seconds) : 0);
      } });
    new Gauge({ name: 'flowkeeper_storage_failing', help: '1 while writes to the store fail (disk full, I/O error): batches are kept and retried, relay streams paused.', registers: [r],
      collect() { this.set(src.pipeline.stats.storageFailingSince === null ? 0 : 1); } });
    new Gauge({ name: 'flowkeeper_storage_failing_since_seconds', help: 'Unix time storage started failing (0 while it works).', registers: [r],
      collect() { this.set((src.pipeline.stats.storageFailingSince ?? 0) / 1000); } });
    /** A counter that follows a running total read at scrape time. */
    const pipelineCounter = (name: string, help: string, read: () => number): void => {
      let last = 0;
      new Counter({ name, help, registers: [r], collect() {
        const now = read();
        this.inc(Math.max(0, now - last));
        last = now;
      } });
    };
    pipelineCounter('flowkeeper_storage_failures_total', 'Times writes to the store started failing.', () => src.pipeline.stats.storageFailures);
    pipelineCounter('flowkeeper_store_emergency_drops_total', 'Raw partitions dropped early because the disk (or --db-max-size) was full.', () => src.pipeline.stats.emergencyDrops);
    new Gauge({ name: 'flowkeeper_queries', help: 'REST/WebSocket queries running in query threads or waiting for one.', labelNames: ['state'], registers: [r],
      collect() {
        const q = src.queries.stats();
        this.set({ state: 'running' }, q.running);
        this.set({ state: 'queued' }, q.queued);
      } });
    pipelineCounter('flowkeeper_queries_refused_total', 'Queries refused with 429 because every query thread was busy and the queue full.', () => src.queries.stats().refused);
    pipelineCounter('flowkeeper_queries_cancelled_total', 'Queries dropped or stopped because their client went away.', () => src.queries.stats().cancelled);
    pipelineCounter('flowkeeper_future_dated_flows_total', 'Flows dated more than a minute ahead of this clock (stored, never the resume point).', () => src.pipeline.stats.futureDated);
    new Gauge({ name: 'flowkeeper_websocket_clients', help: 'Live-stream WebSocket subscribers.', registers: [r],
      collect() { this.set(src.hub.size); } });
    pipelineCounter('flowkeeper_live_dropped_total', 'Relay messages the live stream dropped before encoding them, because the live thread fell behind or every subscriber was stalled (subscribers get lost frames).', () => src.hub.dropped);
    new Gauge({ name: 'flowkeeper_live_backlog', help: 'Relay messages waiting for the live thread or being encoded by it.', registers: [r],
      collect() { this.set(src.hub.backlog); } });
    const guarded = [this.flows.flows, this.flows.dropped, this.flows.denied];
    // Series the dashboards and alerts read exist from the start at 0, not only after their first increment.
    for (const m of guarded) overflow.inc({ metric: m.name }, 0);
    for (const relay of src.relays) {
      this.ingested.inc({ relay: relay.name }, 0);
      this.duplicates.inc({ relay: relay.name }, 0);
      this.malformed.inc({ relay: relay.name }, 0);
      for (const id of Object.keys(Enums.LostEventSource.valuesById)) this.lost.inc({ relay: relay.name, source: lostSourceLabel(Number(id)) }, 0);
    }
    new Gauge({ name: 'flowkeeper_metrics_series', help: 'Series currently held per guarded flow metric.', labelNames: ['metric'], registers: [r],
      collect() { for (const m of guarded) this.set({ metric: m.name }, m.series); } });
  }

  /** Counts one stored batch. */
  observeBatch(s: BatchSummary): void {
    this.flows.observe(s.metrics);
    this.ingested.inc({ relay: s.relay }, s.stored);
    if (s.duplicates) this.duplicates.inc({ relay: s.relay }, s.duplicates);
    if (s.malformed) this.malformed.inc({ relay: s.relay }, s.malformed);
    for (const l of s.lostEvents) this.lost.inc({ relay: s.relay, source: lostSourceLabel(l.source) }, l.events);
    this.batchWrite.observe(s.writeMs / 1000);
  }
}

import { ResponseKind, decodeLostEvent, decodeNodeStatus, scanEnvelope } from '../flows/envelope.js';
import type { Envelope, NodeStatusInfo } from '../flows/envelope.js';
import type { FlowTime } from '../flows/record.js';
import type { MetricNames } from '../metrics/metric-labels.js';
import type { MetricDelta } from './rollup-dims.js';

// What a writer thread reports back and is told, whichever engine it writes to.

export interface LostEventCount {
  source: number;
  node: string;
  events: number;
}

/** Lost events stored from one relay, per source and node (what status shows). */
export type RelayLostEvents = LostEventCount & { relay: string };

/** What one batch did; the ingest pipeline turns it into status and metrics. */
export interface BatchResult {
  received: number;
  stored: number;
  duplicates: number;
  malformed: number;
  malformedSample: string | null;
  /** Flows dated beyond now + MAX_FUTURE_SKEW_SECONDS: stored, but never used as the checkpoint. */
  futureDated: number;
  lostEvents: LostEventCount[];
  nodeStatus: NodeStatusInfo[];
  newest: FlowTime | null;
  /** Stored flows of this batch grouped by metric dimensions. */
  metrics: MetricDelta[];
  /** Metric ids first used in this batch, with their names (writers without dictionary tables: ClickHouse). */
  metricNames?: MetricNames;
}

export interface RetentionPolicy {
  /** Raw flows older than this are dropped, a whole hourly partition at a time. */
  maxAgeSeconds: number;
  /** Oldest partitions are dropped while the database uses more than this. 0 = no limit. */
  maxBytes: number;
  /** Rollup rows older than this are deleted. */
  rollupMaxAgeSeconds: number;
}

/**
 * The envelope of a relay message that carries a flow, or null for one that
 * carries lost events or a node status, which it adds to the batch's counts
 * instead. Throws for a message that is none of them (or cannot be read).
 */
export function flowEnvelope(buf: Buffer, start: number, end: number, lost: Map<string, LostEventCount>, nodeStatus: NodeStatusInfo[]): Envelope | null {
  const env = scanEnvelope(buf, start, end);
  if (env.kind === ResponseKind.Flow) return env;
  if (env.kind === ResponseKind.LostEvents) {
    const ev = decodeLostEvent(buf, env.start, env.end);
    const key = `${ev.source}|${env.nodeName}`;
    const entry = lost.get(key) ?? { source: ev.source, node: env.nodeName, events: 0 };
    entry.events += ev.numEventsLost;
    lost.set(key, entry);
    return null;
  }
  if (env.kind === ResponseKind.NodeStatus) {
    nodeStatus.push(decodeNodeStatus(buf, env.start, env.end));
    return null;
  }
  throw new Error('response carries no flow, node_status or lost_events');
}

import type { IngestPipeline } from './ingest/pipeline.js';
import type { LiveHub } from './live/hub.js';
import type { ObserverSources, ObserverStatus } from './observer/server.js';
import type { QueryPool } from './query/pool.js';
import type { RelayClient } from './relay/client.js';
import type { StoreFacts } from './store/facts.js';

/** Longest a new follower waits for flows in flight to be stored (storage may be failing). */
const SETTLE_WAIT_MS = 5000;

/**
 * What the Observer face reads, assembled from the query engine, the live hub,
 * the store and the relays (the face itself knows none of them).
 */
export function observerSources(deps: {
  queries: QueryPool;
  hub: LiveHub;
  facts: StoreFacts;
  relays: RelayClient[];
  pipeline: IngestPipeline;
  version: string;
  maxRangeSeconds: number;
  flowsPerSecond: () => number;
}): ObserverSources {
  const startedAt = Date.now();
  /** Node name → state, as the relays last reported them (GetNodes, polled). */
  type RelayNode = { state: string; version: string; address: string; uptimeNs: number; seenFlows: number };
  const relayNodes = (): Map<string, RelayNode> => {
    const out = new Map<string, RelayNode>();
    for (const r of deps.relays) {
      for (const n of r.status.nodes) {
        out.set(String(n.name), {
          state: String(n.state ?? 'UNKNOWN_NODE_STATE'), version: String(n.version ?? ''), address: String(n.address ?? ''),
          uptimeNs: Number(n.uptime_ns ?? 0), seenFlows: Number(n.seen_flows ?? 0),
        });
      }
    }
    return out;
  };
  return {
    hub: deps.hub,
    settled: () => Promise.race([deps.pipeline.flush(), new Promise<void>((resolve) => setTimeout(resolve, SETTLE_WAIT_MS).unref())]),
    maxRangeSeconds: deps.maxRangeSeconds,
    history: (job, signal) => deps.queries.history(job, signal),
    serverStatus: (): ObserverStatus => {
      const nodes = relayNodes();
      const unavailable = [...nodes].filter(([, n]) => n.state !== 'NODE_CONNECTED').map(([name]) => name);
      return {
        numFlows: deps.facts.count(),
        seenFlows: deps.pipeline.stats.received,
        uptimeNs: (Date.now() - startedAt) * 1e6,
        connectedNodes: nodes.size - unavailable.length,
        unavailableNodes: unavailable,
        version: `flowkeeper ${deps.version}`,
        flowsRate: deps.flowsPerSecond(),
      };
    },
    nodes: () => {
      const reported = relayNodes();
      const stored = deps.facts.flowsPerNode();
      const names = new Set([...deps.facts.nodeNames(), ...reported.keys()]);
      return [...names].sort().map((name) => ({
        name,
        // A node known only from stored flows has no reported state.
        state: reported.get(name)?.state ?? 'UNKNOWN_NODE_STATE',
        version: reported.get(name)?.version ?? '',
        address: reported.get(name)?.address ?? '',
        // The node's own uptime and seen flows, as its relay reports them (hubble list nodes shows age and flows/s from them).
        uptimeNs: reported.get(name)?.uptimeNs ?? 0,
        seenFlows: reported.get(name)?.seenFlows ?? 0,
        numFlows: stored.get(name) ?? 0,
      }));
    },
    namespaces: () => deps.facts.namespacesSince(Math.floor(Date.now() / 60_000) - 60),
  };
}

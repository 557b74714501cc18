import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/options.js';
import { FlowkeeperError } from './errors.js';
import { IngestPipeline } from './ingest/pipeline.js';
import type { BatchSummary } from './ingest/batch-summary.js';
import type { Logger } from './log.js';
import { ROOT_DIR } from './paths.js';
import { RelayClient } from './relay/client.js';
import { parseRelayTargets, relaySettings } from './relay/relay-config.js';
import { buildServer } from './api/server.js';
import { StatusReport } from './status.js';
import { DEFAULT_QUERY_LIMITS } from './query/limits.js';
import type { QueryEngine } from './query/engine.js';
import type { FlowReader } from './store/sqlite/reader.js';
import type { StoreFacts } from './store/facts.js';
import { startStore } from './store-backend.js';
import { QueryPool } from './query/pool.js';

import { LiveHub } from './live/hub.js';
import { FlowkeeperMetrics } from './metrics/registry.js';
import { registerMetricsRoute } from './metrics/route.js';
import { ObserverServer } from './observer/server.js';
import { observerSources } from './observer-sources.js';

/** Scheduling priority (nice) of query threads: ingest, the live stream and the probes come first. */
const QUERY_THREAD_NICE = 10;

export const VERSION = (JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8')) as { version: string }).version;

const METRICS_EXPIRY_INTERVAL_MS = 30_000;

export interface App {
  pipeline: IngestPipeline;
  hub: LiveHub;
  /** The query engine on the main thread (used when --query-workers is 0). */
  inline: QueryEngine;
  /** Query threads for the REST and WebSocket faces. */
  queryPool: QueryPool;
  metrics: FlowkeeperMetrics;
  facts: StoreFacts;
  /** The SQLite store's read connection (null on ClickHouse). */
  reader: FlowReader | null;
  relays: RelayClient[];
  server: FastifyInstance;
  status: StatusReport;
  /** Address the API listens on (after start). */
  url: string;
  /** Address of the gRPC Observer API, or null when --observer-listen is empty. */
  observerAddress: string | null;
  stop(): Promise<void>;
}

function splitHostPort(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const port = Number(listen.slice(i + 1));
  if (i < 0 || !Number.isInteger(port)) throw new Error(`--listen: "${listen}" is not host:port`);
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * Refuses to expose every stored flow to the network by accident: beyond
 * loopback the API needs a token, or an explicit --allow-unauthenticated.
 */
export function checkExposure(config: Config, host: string, log: Logger, option: 'listen' | 'observer-listen' = 'listen'): void {
  if (isLoopback(host) || config.apiToken) return;
  const address = option === 'listen' ? config.listen : config.observerListen;
  if (!config.allowUnauthenticated) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--${option} ${address} serves beyond loopback without --api-token: anyone who can connect could read every stored flow. Set --api-token (FLOWKEEPER_API_TOKEN), listen on 127.0.0.1, or pass --allow-unauthenticated if a network policy already guards the port`, option);
  }
  log.warn({ [option]: address }, 'serving beyond loopback WITHOUT authentication (--allow-unauthenticated): every stored flow is readable by anyone who can connect');
}

/** Starts the whole service: writer, relay clients and the HTTP API. */
export async function startApp(config: Config, log: Logger): Promise<App> {
  const targets = parseRelayTargets(config.relay);
  const settings = relaySettings(config);
  const listen = splitHostPort(config.listen);
  checkExposure(config, listen.host, log);
  if (config.observerListen) checkExposure(config, splitHostPort(config.observerListen).host, log, 'observer-listen');
  const queryLimits = { ...DEFAULT_QUERY_LIMITS, rawMaxRangeSeconds: config.queryMaxRange };
  const store = await startStore(config, queryLimits, log);
  const { pipeline, facts } = store;
  const hub = new LiveHub(log);
  pipeline.tap = (message) => hub.offer(message);
  const relays = targets.map(
    (t) =>
      new RelayClient(t, settings, pipeline, log, {
        backoffInitialMs: config.backoffInitial * 1000,
        backoffMaxMs: config.backoffMax * 1000,
        statusIntervalMs: config.statusInterval * 1000,
      }),
  );
  const byName = new Map(relays.map((r) => [r.name, r]));
  pipeline.on('batch', (s: BatchSummary) => byName.get(s.relay)?.noteBatch(s));
  const queryPool = new QueryPool(
    { store: store.queryStore, budgetMs: config.queryBudget * 1000, limits: queryLimits, workers: config.queryWorkers, queueLimit: config.queryQueue, nice: QUERY_THREAD_NICE },
    store.inline,
  );
  const status = new StatusReport(VERSION, relays, pipeline, facts, queryPool);
  const metrics = new FlowkeeperMetrics(
    {
      relays, pipeline, facts, hub, queries: queryPool, labels: store.metricLabels,
      storeFileBytes: () => facts.diskBytes(), retentionBytes: () => store.retentionBytes(),
    },
    { maxSeries: config.metricsMaxSeries, ttlMs: config.metricsSeriesTtl * 1000, workloadLabelsOnDrops: config.metricsWorkloadLabels },
  );
  pipeline.on('batch', (s: BatchSummary) => {
    if (config.metrics) metrics.observeBatch(s);
  });
  const expiry = setInterval(() => metrics.flows.expire(), METRICS_EXPIRY_INTERVAL_MS);
  expiry.unref();
  const server = await buildServer({
    status, queries: queryPool, hub, log, version: VERSION, apiToken: config.apiToken, metricsToken: config.metricsToken,
    maxRangeSeconds: config.queryMaxRange, rollupRetentionSeconds: config.rollupRetention, wsMaxSubscribers: config.wsMaxSubscribers,
    requestTimeoutSeconds: config.httpRequestTimeout, maxConnections: config.httpMaxConnections, allowedOrigins: config.allowedOrigins,
    extraRoutes: (app) => registerMetricsRoute(app, metrics),
  });
  const observer = config.observerListen
    ? new ObserverServer(
      observerSources({ queries: queryPool, hub, facts, relays, pipeline, version: VERSION, maxRangeSeconds: config.queryMaxRange, flowsPerSecond: () => status.ingestRate() }),
      {
        listen: config.observerListen, apiToken: config.apiToken, maxStreams: config.observerMaxStreams,
        tls: config.observerTlsCert || config.observerTlsKey ? { cert: config.observerTlsCert, key: config.observerTlsKey, clientCa: config.observerTlsClientCa } : null,
      },
      log,
    )
    : null;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(expiry);
      await Promise.all(relays.map((r) => r.stop()));
      await observer?.close();
      await server.close();
      await hub.close();
      await queryPool.close();
      await pipeline.close();
      store.close();
      log.info('flowkeeper stopped');
    })();
    return stopping;
  };
  let url: string;
  let observerAddress: string | null = null;
  try {
    url = await server.listen(listen);
  } catch (err) {
    // Nothing half-started stays behind (the writer thread, the lock) when the port is taken.
    await stop();
    throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--listen ${config.listen}: ${(err as Error).message}`, 'listen');
  }
  if (observer) {
    try {
      observerAddress = await observer.listen();
    } catch (err) {
      await stop();
      if (err instanceof FlowkeeperError) throw err;
      throw new FlowkeeperError('FLOWKEEPER_ERR_CONFIG', `--observer-listen ${config.observerListen}: ${(err as Error).message}`, 'observer-listen');
    }
  }
  for (const r of relays) r.start();
  log.info({ url, observer: observerAddress, relays: targets, store: facts.describe() }, 'flowkeeper started');
  return { pipeline, hub, inline: store.inline, queryPool, metrics, facts, reader: store.reader, relays, server, status, url, observerAddress, stop };
}

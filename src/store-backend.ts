import type { Config } from './config/options.js';
import { IngestPipeline } from './ingest/pipeline.js';
import type { Logger } from './log.js';
import type { BatchSummary } from './ingest/batch-summary.js';
import { LearnedMetricLabels } from './metrics/metric-labels.js';
import type { MetricLabels } from './metrics/metric-labels.js';
import { CLICKHOUSE_MIGRATIONS_DIR, MIGRATIONS_DIR } from './paths.js';
import type { QueryEngine } from './query/engine.js';
import type { QueryLimits } from './query/limits.js';
import { QueryService } from './store/sqlite/queries.js';
import type { QueryStore } from './query/worker.js';
import { StoreAggregateLabels } from './store/sqlite/aggregate.js';
import { ClickHouseFacts } from './store/clickhouse/facts.js';
import { ClickHouseHttp } from './store/clickhouse/http.js';
import type { ClickHouseSettings } from './store/clickhouse/http.js';
import type { GatherLimits } from './ingest/insert-gatherer.js';
import { checkIdentifier } from './store/clickhouse/migrate.js';
import { ClickHouseQueries } from './store/clickhouse/queries.js';
import { SqliteFacts } from './store/sqlite/facts.js';
import type { StoreFacts } from './store/facts.js';
import { acquireWriterLock } from './store/sqlite/lock.js';
import { FlowReader } from './store/sqlite/reader.js';
import { retentionBytes } from './store/sqlite/space.js';
import { openDatabase, prepareDatabaseDirectory } from './store/sqlite/sqlite.js';

/** How long a partly filled batch waits before it is written. */
const FLUSH_INTERVAL_MS = 50;
const RETENTION_INTERVAL_MS = 60_000;
/** How often the ClickHouse store's facts (counts, edges, nodes) are read again. */
const CLICKHOUSE_FACTS_INTERVAL_MS = 5_000;

/** The storage engine as the rest of the service sees it: ingest, queries and facts. */
export interface StoreBackend {
  pipeline: IngestPipeline;
  facts: StoreFacts;
  /** The SQLite store's read connection (null on ClickHouse). */
  reader: FlowReader | null;
  /** Where query threads read. */
  queryStore: QueryStore;
  /** The engine on the main thread (queries run here when --query-workers is 0). */
  inline: QueryEngine;
  /** Names behind the ids of the writer's metric deltas. */
  metricLabels: MetricLabels;
  /** The size retention keeps the store under (0: none). */
  retentionBytes(): number;
  /** After the pipeline closed: releases what the backend holds. */
  close(): void;
}

function tuning(config: Config): { batchSize: number; queueBatches: number; flushIntervalMs: number } {
  return { batchSize: config.batchSize, queueBatches: config.queueBatches, flushIntervalMs: FLUSH_INTERVAL_MS };
}

/** Longest a relay batch waits in the ClickHouse writer for others to join its insert. */
const CLICKHOUSE_INSERT_DELAY_MS = 1000;

/**
 * The ClickHouse writer's tuning: one insert gathers up to --clickhouse-insert-rows
 * flows while the one before is in flight, so the pipeline may hold two inserts'
 * batches before it pauses the relays.
 */
function clickhouseTuning(config: Config): ReturnType<typeof tuning> & { insert: GatherLimits } {
  const base = tuning(config);
  const queueBatches = Math.max(base.queueBatches, 2 * Math.ceil(config.clickhouseInsertRows / base.batchSize));
  return { ...base, queueBatches, insert: { rows: config.clickhouseInsertRows, delayMs: CLICKHOUSE_INSERT_DELAY_MS, maxBatches: queueBatches } };
}

function clickhouseSettings(config: Config): ClickHouseSettings {
  return {
    url: config.clickhouseUrl, database: checkIdentifier(config.clickhouseDatabase, 'clickhouse-database'),
    user: config.clickhouseUser, password: config.clickhousePassword, timeoutMs: config.clickhouseTimeout * 1000,
    cluster: config.clickhouseCluster ? checkIdentifier(config.clickhouseCluster, 'clickhouse-cluster') : '',
    replicated: config.clickhouseReplicated,
  };
}

/** Starts the configured store's writer (which migrates it) and opens what queries and facts read. */
export function startStore(config: Config, limits: QueryLimits, log: Logger): Promise<StoreBackend> {
  return config.store === 'clickhouse' ? startClickHouse(config, limits, log) : startSqlite(config, limits, log);
}

async function startSqlite(config: Config, limits: QueryLimits, log: Logger): Promise<StoreBackend> {
  prepareDatabaseDirectory(config.db);
  const lock = acquireWriterLock(config.db);
  let pipeline: IngestPipeline;
  try {
    pipeline = await IngestPipeline.start({
      dbPath: config.db, dbMaxBytes: config.dbMaxSize, onDamaged: config.onDamagedDb, migrationsDir: MIGRATIONS_DIR,
      overlapSeconds: config.resumeOverlap, retentionIntervalMs: RETENTION_INTERVAL_MS,
      retention: { maxAgeSeconds: config.retention, maxBytes: config.retentionSize, rollupMaxAgeSeconds: config.rollupRetention },
      ...tuning(config),
    }, log);
  } catch (err) {
    lock.release();
    throw err;
  }
  const readDb = openDatabase(config.db, { readonly: true });
  const reader = new FlowReader(readDb);
  return {
    pipeline,
    facts: new SqliteFacts(reader, config.db),
    reader,
    queryStore: { engine: 'sqlite', dbPath: config.db },
    inline: new QueryService(readDb, reader, config.queryBudget * 1000, limits),
    metricLabels: new StoreAggregateLabels(readDb, reader.dict),
    retentionBytes: () => retentionBytes(config.retentionSize, config.db, config.dbMaxSize),
    close: () => {
      readDb.close();
      lock.release();
    },
  };
}

async function startClickHouse(config: Config, limits: QueryLimits, log: Logger): Promise<StoreBackend> {
  const settings = clickhouseSettings(config);
  const ch = new ClickHouseHttp(settings);
  const pipeline = await IngestPipeline.start({
    engine: 'clickhouse', clickhouse: settings, migrationsDir: CLICKHOUSE_MIGRATIONS_DIR, overlapSeconds: config.resumeOverlap,
    retentionSeconds: config.retention, rollupRetentionSeconds: config.rollupRetention, retentionIntervalMs: RETENTION_INTERVAL_MS, ...clickhouseTuning(config),
  }, log);
  if (pipeline.engine && pipeline.engine.missing.length > 0) {
    log.warn({ server: pipeline.engine.version, missing: pipeline.engine.missing }, 'this ClickHouse lacks features the schema uses on newer servers (flows take more disk); ClickHouse 24+ is the production target');
  }
  // The writer reports the names behind its metric ids with the batches; learn them before metrics count the batch.
  const metricLabels = new LearnedMetricLabels();
  const facts = new ClickHouseFacts(ch, pipeline.engine, log);
  pipeline.on('batch', (s: BatchSummary) => {
    metricLabels.learn(s.metricNames);
    facts.noteStored(s.relay, s.newest);
  });
  await facts.start(CLICKHOUSE_FACTS_INTERVAL_MS);
  return {
    pipeline,
    facts,
    reader: null,
    queryStore: { engine: 'clickhouse', clickhouse: settings },
    inline: new ClickHouseQueries(ch, config.queryBudget * 1000, limits),
    metricLabels,
    retentionBytes: () => 0,
    close: () => {
      facts.stop();
      ch.close();
    },
  };
}

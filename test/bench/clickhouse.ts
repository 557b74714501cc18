import { cpus } from 'node:os';
import { CLICKHOUSE_MIGRATIONS_DIR } from '../../src/paths.js';
import { Deadline } from '../../src/query/deadline.js';
import { FilterSet } from '../../src/query/filter.js';
import { parseGroupBy } from '../../src/query/aggregate.js';
import { aggregateClickHouse } from '../../src/store/clickhouse/aggregate.js';
import { queryClickHouseFlows } from '../../src/store/clickhouse/flows.js';
import { clickhouseFlowClasses, scannedClasses } from '../../src/store/clickhouse/flow-classes.js';
import { ClickHouseHttp } from '../../src/store/clickhouse/http.js';
import { featuresOf, migrateClickHouse } from '../../src/store/clickhouse/migrate.js';
import { ClickHouseFlowWriter } from '../../src/store/clickhouse/writer.js';
import { InsertGatherer } from '../../src/ingest/insert-gatherer.js';
import { benchIngest } from './ingest.js';
import { clickhouseSkip, startClickHouse } from '../helpers/clickhouse.js';
import { ChdbEngine, chdbSkip } from '../helpers/chdb.js';
import type { Figure } from './measure.js';
import { percentile } from './query.js';
import { buildTemplates, spreadOverLastDay, templateBatches } from './templates.js';

/** Flows per relay batch (--batch-size) and per insert (--clickhouse-insert-rows), as flowkeeper's defaults. */
const BATCH = Number(process.env.BENCH_CLICKHOUSE_BATCH ?? 4096);
const INSERT_ROWS = Number(process.env.BENCH_CLICKHOUSE_INSERT_ROWS ?? 32_768);
/** Relay batches in flight, as store-backend sizes them: two inserts' worth. */
const QUEUE_BATCHES = 2 * Math.ceil(INSERT_ROWS / BATCH);

/** Stores `flows` template flows with `writer`, as the writer thread does: relay batches gathered into inserts, one in flight, the next gathering meanwhile. */
async function storeTemplates(writer: ClickHouseFlowWriter, flows: number): Promise<number> {
  const templates = buildTemplates(20_000, 7);
  let stored = 0;
  const gatherer = new InsertGatherer({ rows: INSERT_ROWS, delayMs: 1000, maxBatches: QUEUE_BATCHES }, (group) => writer.commit(group));
  const inFlight: Promise<void>[] = [];
  for (const { buf, offsets } of templateBatches(templates, flows, BATCH, spreadOverLastDay(flows))) {
    const batch = writer.prepare('bench', buf, offsets);
    stored += batch.result.stored;
    inFlight.push(gatherer.add(batch));
    if (inFlight.length >= QUEUE_BATCHES) await inFlight.shift();
  }
  await gatherer.drain();
  await Promise.all(inFlight);
  return stored;
}

/**
 * Disk per flow on current ClickHouse (26.7, in-process through chDB), where
 * the schema's column codecs apply: the same flows, merged, measured instead
 * of estimated from the 18.16 figure.
 */
async function benchCurrentDisk(flows: number): Promise<Figure> {
  const name = 'disk per flow on current ClickHouse, merged (chDB, in-process)';
  if (chdbSkip) return { name, value: NaN, unit: 'B', note: chdbSkip };
  const engine = new ChdbEngine();
  try {
    const ch = engine.client('flowkeeper_bench');
    const features = featuresOf(await ch.version());
    await migrateClickHouse(ch, CLICKHOUSE_MIGRATIONS_DIR, features);
    const stored = await storeTemplates(new ClickHouseFlowWriter(ch, 5), flows);
    await ch.command('OPTIMIZE TABLE flows FINAL');
    const [parts] = await ch.rows<{ bytes: string; rows: string }>("SELECT sum(bytes_on_disk) AS bytes, sum(rows) AS rows FROM system.parts WHERE database = 'flowkeeper_bench' AND table = 'flows' AND active");
    const [response] = await ch.rows<{ bytes: string }>("SELECT data_compressed_bytes AS bytes FROM system.columns WHERE database = 'flowkeeper_bench' AND table = 'flows' AND name = 'response'");
    if (Number(parts.rows) !== stored) throw new Error(`chDB holds ${parts.rows} flows of ${stored}`);
    return { name: `disk per flow on ClickHouse ${features.version}, merged (chDB, in-process)`, value: Number(parts.bytes) / Number(parts.rows), unit: 'B', target: { op: '<=', value: 80 },
      note: `${stored.toLocaleString('en-US')} flows; the stored responses ${(Number(response.bytes) / Number(parts.rows)).toFixed(1)} B of it; every column with a codec of its own` };
  } finally {
    engine.close();
  }
}

/**
 * The ClickHouse store on a local server (Debian's 18.16 here): the writer
 * storing `flows` flows spread over 24 h, the bytes each takes on disk once
 * merged, the p95 of newest-100 pages, unfiltered and filtered, and of
 * aggregates from the rollups ClickHouse keeps.
 */
export async function benchClickHouse(flows: number, seconds: number): Promise<Figure[]> {
  if (clickhouseSkip) return [{ name: 'ClickHouse store', value: NaN, unit: '', note: clickhouseSkip }];
  const server = await startClickHouse();
  try {
    const ch = new ClickHouseHttp({ url: server.url, database: 'flowkeeper_bench', user: 'default', password: '', timeoutMs: 120_000 });
    const features = featuresOf(await ch.version());
    await migrateClickHouse(ch, CLICKHOUSE_MIGRATIONS_DIR, features);
    const t0 = performance.now();
    const stored = await storeTemplates(new ClickHouseFlowWriter(ch, 5), flows);
    const ingestSeconds = (performance.now() - t0) / 1000;
    await ch.command('OPTIMIZE TABLE flows FINAL');
    const [parts] = await ch.rows<{ bytes: string; rows: string }>("SELECT sum(bytes) AS bytes, sum(rows) AS rows FROM system.parts WHERE database = 'flowkeeper_bench' AND table = 'flows' AND active");
    if (process.env.BENCH_CH_COLUMNS) console.table(await ch.rows("SELECT name, data_compressed_bytes AS c, data_uncompressed_bytes AS u FROM system.columns WHERE database = 'flowkeeper_bench' AND table = 'flows' ORDER BY c DESC"));
    const [response] = await ch.rows<{ bytes: string }>("SELECT data_compressed_bytes AS bytes FROM system.columns WHERE database = 'flowkeeper_bench' AND table = 'flows' AND name = 'response'");
    const now = Math.floor(Date.now() / 1000);
    const page = async (body: object): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < 43; i++) {
        const started = performance.now();
        await queryClickHouseFlows(ch, {
          filters: FilterSet.parse(body), since: { seconds: now - 90_000, nanos: 0 }, until: { seconds: now, nanos: 0 },
          order: 'desc', limit: 100, after: null, deadline: Deadline.in(10_000), read: () => true,
        });
        if (i >= 3) times.push(performance.now() - started);
      }
      return times;
    };
    const aggregate = async (groupBy: string, body: object, bucketMinutes: number | null): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < 23; i++) {
        const started = performance.now();
        await aggregateClickHouse(ch, {
          dims: parseGroupBy(groupBy), filters: FilterSet.parse(body), sinceMinute: Math.floor((now - 86_400) / 60), untilMinute: Math.ceil(now / 60) + 1,
          bucketMinutes, top: 10, maxEntries: 300_000, deadline: Deadline.in(10_000),
        });
        if (i >= 3) times.push(performance.now() - started);
      }
      return times;
    };
    await ch.command('OPTIMIZE TABLE flows_1m FINAL');
    const [rollup] = await ch.rows<{ bytes: string; rows: string }>("SELECT sum(bytes) AS bytes, sum(rows) AS rows FROM system.parts WHERE database = 'flowkeeper_bench' AND table = 'flows_1m' AND active");
    const byVerdict = await aggregate('verdict,drop_reason', {}, 5);
    const byWorkload = await aggregate('source_workload,destination_workload', { whitelist: [{ verdict: ['DROPPED'] }] }, null);
    const byLabel = await aggregate('source_label:app,destination_label:app', {}, null);
    const all = await page({});
    const drops = await page({ whitelist: [{ verdict: ['DROPPED'], source_pod: ['payments/'] }, { verdict: ['DROPPED'], destination_pod: ['payments/'] }] });
    const mflows = `${(flows / 1e6).toFixed(1)} M flows`;
    // Policy replay's flow classes over the whole day: grouped by class_hash in ClickHouse, and by a scan for comparison.
    const classesRequest = { filters: FilterSet.parse({}), since: { seconds: now - 90_000, nanos: 0 }, until: { seconds: now, nanos: 0 }, withHeaders: false, maxClasses: 100_000, budgetMs: 120_000 };
    let started = performance.now();
    const classes = await clickhouseFlowClasses(ch, classesRequest, null);
    const groupedMs = performance.now() - started;
    started = performance.now();
    await scannedClasses(ch, classesRequest, Deadline.in(120_000));
    const scannedMs = performance.now() - started;
    // The whole path: the feeder process streaming gRPC → flowkeeper serve --store clickhouse → this server.
    const e2e = await benchIngest(seconds, { args: ['--store', 'clickhouse', '--clickhouse-url', server.url, '--clickhouse-database', 'flowkeeper_e2e'], others: [{ name: 'clickhouse-server', pid: server.pid }] });
    const endToEnd: Figure[] = [
      { ...e2e.rate, name: `ingest end to end into ClickHouse ${features.version} (feeder → gRPC → flowkeeper → ClickHouse)`, note: `flowkeeper ${e2e.cpu.note}, ClickHouse and the feeder share the same ${cpus().length} cores` },
      ...e2e.cpuShares,
      { ...e2e.rss, name: '  … peak RSS of that flowkeeper' },
    ];
    return [
      { name: `ingest into ClickHouse ${features.version} (the writer alone: ${BATCH.toLocaleString('en-US')}-flow batches gathered into ${INSERT_ROWS.toLocaleString('en-US')}-flow inserts)`, value: stored / ingestSeconds, unit: 'flows/s', target: { op: '>=', value: 100_000 },
        note: `${stored.toLocaleString('en-US')} flows in ${ingestSeconds.toFixed(1)} s; ClickHouse runs on the same 2 cores` },
      ...endToEnd,
      { name: `disk per flow on ${features.version}, merged`, value: Number(parts.bytes) / Number(parts.rows), unit: 'B', target: { op: '<=', value: 80 },
        note: `the stored responses ${(Number(response.bytes) / Number(parts.rows)).toFixed(1)} B of it; ${features.codecs ? 'column codecs' : 'ZSTD set server-wide (<compression>), no column codecs'}${features.missing.length ? `; this server lacks ${features.missing.join(' and ')}` : ''}` },
      await benchCurrentDisk(flows),
      { name: `newest 100 over ${mflows}, p95`, value: percentile(all, 95), unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${percentile(all, 50).toFixed(1)} ms` },
      { name: `drops in a namespace, newest 100 over ${mflows}, p95`, value: percentile(drops, 95), unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${percentile(drops, 50).toFixed(1)} ms` },
      { name: `aggregate verdict × drop reason, 5m buckets, 24 h (${mflows}), p95`, value: percentile(byVerdict, 95), unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${percentile(byVerdict, 50).toFixed(1)} ms; from flows_1m` },
      { name: `aggregate drops by source × destination workload, 24 h, p95`, value: percentile(byWorkload, 95), unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${percentile(byWorkload, 50).toFixed(1)} ms` },
      { name: `aggregate by source × destination label app, 24 h, p95`, value: percentile(byLabel, 95), unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${percentile(byLabel, 50).toFixed(1)} ms` },
      { name: `policy replay's flow classes over ${mflows} (grouped in ClickHouse by class_hash)`, value: groupedMs / 1000, unit: 's', target: { op: '<=', value: 2 },
        note: `${classes.classes.length.toLocaleString('en-US')} classes; reading every flow instead: ${(scannedMs / 1000).toFixed(1)} s` },
      { name: 'rollup bytes per flow (flows_1m, merged)', value: Number(rollup.bytes) / stored, unit: 'B', note: `${Number(rollup.rows).toLocaleString('en-US')} rollup rows` },
    ];
  } finally {
    await server.stop();
  }
}

import { CLICKHOUSE_MIGRATIONS_DIR } from '../../src/paths.js';
import { Deadline } from '../../src/query/deadline.js';
import { FilterSet } from '../../src/query/filter.js';
import { queryClickHouseFlows } from '../../src/store/clickhouse/flows.js';
import { ClickHouseHttp } from '../../src/store/clickhouse/http.js';
import { featuresOf, migrateClickHouse } from '../../src/store/clickhouse/migrate.js';
import { ClickHouseFlowWriter } from '../../src/store/clickhouse/writer.js';
import { clickhouseSkip, startClickHouse } from '../helpers/clickhouse.js';
import type { Figure } from './measure.js';
import { percentile } from './query.js';
import { buildTemplates, spreadOverLastDay, templateBatches } from './templates.js';

/** Flows per insert: the writer's batch (a ClickHouse part each). */
const BATCH = Number(process.env.BENCH_CLICKHOUSE_BATCH ?? 16_384);
/** Inserts in flight at once. */
const IN_FLIGHT = Number(process.env.BENCH_CLICKHOUSE_IN_FLIGHT ?? 2);

/**
 * The ClickHouse store on a local server (Debian's 18.16 here): the writer
 * storing `flows` flows spread over 24 h, the bytes each takes on disk once
 * merged, and the p95 of newest-100 pages, unfiltered and filtered.
 */
export async function benchClickHouse(flows: number): Promise<Figure[]> {
  if (clickhouseSkip) return [{ name: 'ClickHouse store', value: NaN, unit: '', note: clickhouseSkip }];
  const server = await startClickHouse();
  try {
    const ch = new ClickHouseHttp({ url: server.url, database: 'flowkeeper_bench', user: 'default', password: '', timeoutMs: 120_000 });
    const features = featuresOf(await ch.version());
    await migrateClickHouse(ch, CLICKHOUSE_MIGRATIONS_DIR, features);
    const writer = new ClickHouseFlowWriter(ch, 5);
    const templates = buildTemplates(20_000, 7);
    const t0 = performance.now();
    let stored = 0;
    // Two inserts in flight: the next batch is scanned and encoded while ClickHouse takes the last one.
    const inFlight: Promise<void>[] = [];
    for (const { buf, offsets } of templateBatches(templates, flows, BATCH, spreadOverLastDay(flows))) {
      const batch = writer.prepare('bench', buf, offsets);
      stored += batch.result.stored;
      inFlight.push(writer.commit(batch));
      if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
    }
    await Promise.all(inFlight);
    const ingestSeconds = (performance.now() - t0) / 1000;
    await ch.command('OPTIMIZE TABLE flows FINAL');
    const [parts] = await ch.rows<{ bytes: string; rows: string }>("SELECT sum(bytes) AS bytes, sum(rows) AS rows FROM system.parts WHERE database = 'flowkeeper_bench' AND table = 'flows' AND active");
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
    const all = await page({});
    const drops = await page({ whitelist: [{ verdict: ['DROPPED'], source_pod: ['payments/'] }, { verdict: ['DROPPED'], destination_pod: ['payments/'] }] });
    const mflows = `${(flows / 1e6).toFixed(1)} M flows`;
    return [
      { name: `ingest into ClickHouse ${features.version} (writer, ${BATCH.toLocaleString('en-US')}-flow inserts, ${IN_FLIGHT} in flight)`, value: stored / ingestSeconds, unit: 'flows/s', target: { op: '>=', value: 100_000 },
        note: `${stored.toLocaleString('en-US')} flows in ${ingestSeconds.toFixed(1)} s; ClickHouse runs on the same 2 cores` },
      { name: `disk per flow on ${features.version}, merged`, value: Number(parts.bytes) / Number(parts.rows), unit: 'B', target: { op: '<=', value: 80 },
        note: features.missing.length ? `this server lacks ${features.missing.join(' and ')}: the schema uses them on newer servers, not measured here` : 'with codecs' },
      { name: `newest 100 over ${mflows}, p95`, value: percentile(all, 95), unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${percentile(all, 50).toFixed(1)} ms` },
      { name: `drops in a namespace, newest 100 over ${mflows}, p95`, value: percentile(drops, 95), unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${percentile(drops, 50).toFixed(1)} ms` },
    ];
  } finally {
    await server.stop();
  }
}

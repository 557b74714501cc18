import { benchIngest, ingestFigures } from './ingest.js';
import type { IngestRun } from './ingest.js';
import { benchWriterPods } from './writer-pods.js';
import { heavyQueries, pacedContention } from './contention.js';
import { printFigures } from './measure.js';
import { benchQueries } from './query.js';
import { benchReplay } from './replay.js';
import { benchLive } from './live.js';
import type { LiveSubscribers } from './live.js';
import { benchSeries } from './series.js';
import { benchMetricsCost } from './metrics-cost.js';
import { benchMemory } from './memory.js';
import { benchObserver, benchObserverFollow } from './observer.js';
import { benchClickHouse } from './clickhouse.js';

/** `npm run bench`: prints each figure beside its target (DESIGN.md). Seconds per phase: BENCH_SECONDS. */
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const queryFlows = Number(process.env.BENCH_QUERY_FLOWS ?? 10_000_000);
const only = (process.env.BENCH_ONLY ?? 'ingest,metrics,query,replay,contention,live,series,observer,follow,clickhouse,memory').split(',');
/** Flows in the store the Observer phase streams from. */
const observerFlows = Number(process.env.BENCH_OBSERVER_FLOWS ?? 2_000_000);
/** Relay rate of the live phase (the target is set at 50,000/s). */
const liveRate = Number(process.env.BENCH_LIVE_RATE ?? 50_000);
/** Relay rate of the follow phase (the target is set at 50,000/s; a machine that cannot ingest that measures its backlog instead). */
const followRate = Number(process.env.BENCH_FOLLOW_RATE ?? 50_000);
/** The memory phase runs the demo this long (default 8 minutes, the span the RSS growth was reported over). */
const memorySeconds = Number(process.env.BENCH_MEMORY_SECONDS ?? 480);

async function main(): Promise<void> {
  const cores = (await import('node:os')).cpus().length;
  if (only.includes('ingest')) printFigures(`ingest (${seconds} s sustained, ${cores} cores)`, [...ingestFigures(await benchIngest(seconds)), ...benchWriterPods(1000, 200_000)]);
  if (only.includes('metrics')) {
    const direct = benchMetricsCost(1_000_000);
    const off = await benchIngest(seconds, { args: ['--metrics', 'false'] });
    const on = await benchIngest(seconds);
    printFigures('metrics overhead on ingest at 100,000 flows/s', [
      ...direct,
      { name: 'end-to-end CPU per flow, metrics on vs off (noisy)', value: ((on.cpu.value - off.cpu.value) / off.cpu.value) * 100, unit: '%',
        note: `on ${on.cpu.value.toFixed(2)} µs at ${Math.round(on.rate.value).toLocaleString('en-US')}/s, off ${off.cpu.value.toFixed(2)} µs at ${Math.round(off.rate.value).toLocaleString('en-US')}/s; run-to-run spread on this 2-core machine is about ±10%` },
    ]);
  }
  if (only.includes('query')) printFigures('queries (real HTTP API)', await benchQueries(queryFlows));
  if (only.includes('replay')) printFigures('policy replay (real HTTP API)', await benchReplay(Number(process.env.BENCH_REPLAY_FLOWS ?? 1_000_000)));
  if (only.includes('contention')) {
    const alone = await benchIngest(seconds);
    // The query clients run in this process: their CPU is part of what the two cores carry.
    const clients = [{ name: 'bench query clients', pid: () => process.pid }];
    const loaded = await benchIngest(seconds, { load: heavyQueries(8), others: clients });
    const inline = await benchIngest(seconds, { args: ['--query-workers', '0'], load: heavyQueries(8) });
    const vsAlone = (run: IngestRun): string => `${(((run.rate.value - alone.rate.value) / alone.rate.value) * 100).toFixed(1)} % vs alone`;
    printFigures('ingest while 8 clients run heavy queries back to back', [
      { name: 'ingest alone', value: alone.rate.value, unit: 'flows/s' },
      ...alone.cpuShares,
      { name: 'ingest with 8 query clients', value: loaded.rate.value, unit: 'flows/s', note: `${vsAlone(loaded)}; run-to-run spread here is about ±10 %` },
      ...loaded.cpuShares,
      ...loaded.load,
      { name: 'for comparison, --query-workers 0: ingest', value: inline.rate.value, unit: 'flows/s', note: vsAlone(inline) },
      ...inline.load.map((f) => ({ ...f, name: `  … ${f.name}` })),
      ...(await pacedContention(liveRate, seconds, 8)),
    ]);
  }
  if (only.includes('live')) {
    // BENCH_LIVE_FILTER / BENCH_LIVE_SUBSCRIBERS / BENCH_LIVE_PARSE: one run of your own instead of the four below.
    const own = ['BENCH_LIVE_FILTER', 'BENCH_LIVE_SUBSCRIBERS', 'BENCH_LIVE_PARSE'].some((k) => process.env[k] !== undefined);
    const runs: LiveSubscribers[] = own
      ? [{ filter: process.env.BENCH_LIVE_FILTER ?? 'verdict=DROPPED', subscribers: Number(process.env.BENCH_LIVE_SUBSCRIBERS ?? 1), parse: process.env.BENCH_LIVE_PARSE === 'time' ? 'time' : 'full' }]
      : [
          { filter: 'verdict=DROPPED', subscribers: 1, parse: 'full' },
          { filter: 'verdict=DROPPED', subscribers: 10, parse: 'full' },
          { filter: '', subscribers: 1, parse: 'full' },
          { filter: '', subscribers: 1, parse: 'time' },
        ];
    for (const run of runs) {
      const who = `${run.subscribers === 1 ? 'one subscriber' : `${run.subscribers} subscribers`} ${run.filter ? `(${run.filter})` : '(every flow)'}${run.parse === 'time' ? ', a client that reads only each frame\'s time' : ''}`;
      printFigures(`live stream (WebSocket) while ingesting ${liveRate.toLocaleString('en-US')} flows/s, ${who}`, await benchLive(liveRate, seconds, run));
    }
  }
  if (only.includes('series')) printFigures('metric cardinality (default configuration)', benchSeries(1000, 100));
  if (only.includes('observer')) printFigures(`Observer gRPC API on history (${observerFlows.toLocaleString('en-US')} stored flows)`, await benchObserver(observerFlows));
  if (only.includes('follow')) printFigures(`Observer gRPC API: follow while ingesting ${followRate.toLocaleString('en-US')} flows/s`, await benchObserverFollow(followRate, seconds));
  if (only.includes('clickhouse')) printFigures('ClickHouse store (a local clickhouse-server)', await benchClickHouse(Number(process.env.BENCH_CLICKHOUSE_FLOWS ?? 2_000_000), seconds));
  if (only.includes('memory')) {
    printFigures(`memory of flowkeeper demo at 2,000 flows/s over ${memorySeconds} s`, await benchMemory(2000, memorySeconds));
    printFigures(`memory of flowkeeper demo at 20,000 flows/s over ${memorySeconds} s (ten times the traffic)`, await benchMemory(20_000, memorySeconds));
    printFigures(`memory of flowkeeper demo at 2,000 flows/s over ${memorySeconds} s, after the first minute with the heaviest reads back to back (10,000-flow NDJSON and summary pages, 10,000-flow WebSocket backfills)`, await benchMemory(2000, memorySeconds, true));
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});

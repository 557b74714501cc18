import { benchIngest } from './ingest.js';
import { printFigures } from './measure.js';
import { benchQueries } from './query.js';

/** `npm run bench`: prints each figure beside its target (DESIGN.md). Seconds per phase: BENCH_SECONDS. */
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const queryFlows = Number(process.env.BENCH_QUERY_FLOWS ?? 10_000_000);
const only = (process.env.BENCH_ONLY ?? 'ingest,query,live').split(',');

async function main(): Promise<void> {
  const cores = (await import('node:os')).cpus().length;
  if (only.includes('ingest')) printFigures(`ingest (${seconds} s sustained, ${cores} cores)`, await benchIngest(seconds));
  if (only.includes('query')) printFigures('queries (real HTTP API)', await benchQueries(queryFlows));
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});

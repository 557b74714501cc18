import { benchIngest } from './ingest.js';
import { printFigures } from './measure.js';

/** `npm run bench`: prints each figure beside its target (DESIGN.md). Seconds per phase: BENCH_SECONDS. */
const seconds = Number(process.env.BENCH_SECONDS ?? 20);

async function main(): Promise<void> {
  printFigures(`ingest (${seconds} s sustained, ${(await import('node:os')).cpus().length} cores)`, await benchIngest(seconds));
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});

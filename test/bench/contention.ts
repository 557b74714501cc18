import type { Load } from './ingest.js';
import { quantile, startPacedServe } from './live.js';
import type { Figure } from './measure.js';

/** Heavy queries: raw scans and JS re-checks over everything ingested so far, and rollup aggregates. */
const HEAVY = [
  '/api/v1/aggregate?group_by=node,verdict&since=1h',
  '/api/v1/flows?since=1h&limit=10000&http_path=%5E%2Fapi%2F.*%2Fv%5B0-9%5D%2B&order=asc',
  '/api/v1/aggregate?group_by=source_label:app,destination_label:app,verdict&since=1h&bucket=1m',
  '/api/v1/flows?since=1h&limit=10000&cel_expression=' + encodeURIComponent('_flow.source.labels.exists(l, l.matches("^k8s:app=nomatch$"))'),
];

/**
 * `clients` clients running heavy queries back to back while ingest runs,
 * and a probe of /healthz every 50 ms: what a busy on-call hour looks like.
 */
export function heavyQueries(clients: number): Load {
  return (url) => {
    let running = true;
    const latencies: number[] = [];
    const health: number[] = [];
    const statuses = new Map<number, number>();
    const client = async (i: number): Promise<void> => {
      for (let n = i; running; n++) {
        const t0 = performance.now();
        const res = await fetch(`${url}${HEAVY[n % HEAVY.length]}`);
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.ok) latencies.push(performance.now() - t0);
        else if (res.status === 429) await new Promise((r) => setTimeout(r, 200));
      }
    };
    const probe = async (): Promise<void> => {
      while (running) {
        const t0 = performance.now();
        await (await fetch(`${url}/healthz`)).arrayBuffer();
        health.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const all = [...Array.from({ length: clients }, (_, i) => client(i)), probe()];
    return {
      stop: async () => {
        running = false;
        await Promise.all(all);
        health.sort((a, b) => a - b);
        latencies.sort((a, b) => a - b);
        return [
          { name: `/healthz while ${clients} clients query: p99`, value: quantile(health, 0.99), unit: 'ms', target: { op: '<=', value: 50 }, note: `max ${health[health.length - 1].toFixed(1)} ms over ${health.length} probes` },
          { name: 'heavy queries answered', value: latencies.length, unit: '', note: `p50 ${quantile(latencies, 0.5).toFixed(0)} ms, p95 ${quantile(latencies, 0.95).toFixed(0)} ms; statuses ${[...statuses].sort().map(([k, v]) => `${k}×${v}`).join(' ')} (422: out of --query-budget)` },
        ];
      },
    };
  };
}

/**
 * The same load while a relay sends at a node's steady rate rather than as fast
 * as it can: does ingest keep up with the relay (nothing falls behind, nothing
 * is lost) while the queries run? On a machine that ingest at full speed
 * saturates, the full-speed figure above can only measure CPU sharing.
 */
export async function pacedContention(rate: number, seconds: number, clients: number): Promise<Figure[]> {
  const serve = await startPacedServe(rate);
  try {
    await new Promise((r) => setTimeout(r, 3000));
    const s0 = await serve.stored();
    const t0 = performance.now();
    const load = heavyQueries(clients)(`http://${serve.base}`);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const loadFigures = await load.stop();
    const ingestRate = ((await serve.stored()) - s0) / ((performance.now() - t0) / 1000);
    return [
      { name: `ingest with ${clients} query clients, relay paced at ${rate.toLocaleString('en-US')}/s`, value: ingestRate, unit: 'flows/s', target: { op: '>=', value: rate * 0.95 } },
      ...loadFigures.map((f) => ({ ...f, name: `  … ${f.name}` })),
    ];
  } finally {
    await serve.stop();
  }
}

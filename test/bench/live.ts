import { fork, spawn } from 'node:child_process';
import { join } from 'node:path';
import WebSocket from 'ws';
import { ROOT_DIR } from '../../src/paths.js';
import { freePort, tempDir } from '../helpers/harness.js';
import type { Figure } from './measure.js';

const CLI = join(ROOT_DIR, 'dist', 'src', 'cli.js');

function timeMs(rfc3339: string): number {
  const m = /\.(\d+)Z$/.exec(rfc3339);
  const frac = m ? Number(`0.${m[1]}`) * 1000 : 0;
  return Math.floor(Date.parse(rfc3339) / 1000) * 1000 + frac;
}

/**
 * Flow seen → delivered to a WebSocket subscriber while ingesting `rate` flows/s:
 * the paced feeder stamps each flow with its send time; the subscriber (drops
 * only, as an SRE would watch) measures arrival minus that time.
 */
export async function benchLive(rate: number, seconds: number): Promise<Figure[]> {
  const { dir, cleanup } = tempDir('flowkeeper-bench-live-');
  const feeder = fork(join(ROOT_DIR, 'dist', 'test', 'bench', 'feeder.js'), [String(rate)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => feeder.on('message', (m: { type: string; port: number }) => m.type === 'listening' && resolve(m.port)));
  const apiPort = await freePort();
  const base = `127.0.0.1:${apiPort}`;
  const fk = spawn(process.execPath, [CLI, 'serve', '--relay', `bench=127.0.0.1:${port}`, '--db', join(dir, 'live.db'), '--listen', base, '--observer-listen', '127.0.0.1:0', '--log-level', 'warn'], { stdio: 'inherit' });
  try {
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      if (await fetch(`http://${base}/healthz`).then((r) => r.ok, () => false)) break;
    }
    const latencies: number[] = [];
    let lost = 0;
    let measuring = false;
    const ws = new WebSocket(`ws://${base}/api/v1/flows/stream?${process.env.BENCH_LIVE_FILTER ?? 'verdict=DROPPED'}`);
    ws.on('message', (data) => {
      const now = Date.now();
      const frame = JSON.parse(data.toString()) as { type: string; count?: number; flow?: { time: string } };
      if (!measuring) return;
      if (frame.type === 'flow' && frame.flow) latencies.push(now - timeMs(frame.flow.time));
      if (frame.type === 'lost') lost += frame.count ?? 0;
    });
    await new Promise((r) => ws.once('open', r));
    await new Promise((r) => setTimeout(r, 3000));
    const status = async (): Promise<number> => ((await (await fetch(`http://${base}/api/v1/status`)).json()) as { ingest: { stored: number } }).ingest.stored;
    const s0 = await status();
    measuring = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    measuring = false;
    const ingestRate = ((await status()) - s0) / ((performance.now() - t0) / 1000);
    ws.close();
    latencies.sort((a, b) => a - b);
    const p = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
    return [
      { name: 'flow → WebSocket subscriber latency: p99', value: p(0.99), unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${p(0.5).toFixed(1)} ms, ${latencies.length.toLocaleString('en-US')} flows delivered, ${lost} lost, subscription "${process.env.BENCH_LIVE_FILTER ?? "verdict=DROPPED"}"` },
      { name: 'ingest rate meanwhile', value: ingestRate, unit: 'flows/s', target: { op: '>=', value: rate * 0.95 }, note: `feeder paced at ${rate.toLocaleString('en-US')}/s` },
    ];
  } finally {
    fk.kill('SIGKILL');
    feeder.kill();
    cleanup();
  }
}

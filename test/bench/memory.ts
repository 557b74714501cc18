import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../../src/paths.js';
import WebSocket from 'ws';
import { freePort, tempDir } from '../helpers/harness.js';
import { flowkeeperEnv } from './measure.js';
import type { Figure } from './measure.js';

const CLI = join(ROOT_DIR, 'dist', 'src', 'cli.js');
/** deploy/kubernetes/flowkeeper.yaml's memory limit, 512 Mi, in MB: under heavy reads that is the ceiling to stay under (DESIGN's 300 MB is for ingest). */
const MANIFEST_LIMIT_MB = (512 * 1024 * 1024) / 1e6;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Memory over time: `flowkeeper demo` (simulator + flowkeeper in one process,
 * what a new user runs) at `rate` flows/s for `seconds`, RSS sampled every 5 s.
 * Does it level off, and where? The figures: RSS after the first minute, the
 * peak, and the growth over the last half of the run (≈ 0 once it has levelled).
 */
/**
 * The heaviest reads the API allows, back to back until `stop` is set: two
 * clients paging 10,000-flow NDJSON and summary pages, and one WebSocket client
 * opening streams with a 10,000-flow backfill. Returns how many were answered.
 */
async function heavyReads(base: string, stop: { set: boolean }): Promise<number> {
  let answered = 0;
  const pages = async (format: string): Promise<void> => {
    while (!stop.set) {
      const res = await fetch(`${base}/api/v1/flows?since=10m&limit=10000${format}`).catch(() => null);
      if (res) {
        await res.arrayBuffer();
        answered++;
      }
    }
  };
  const backfills = async (): Promise<void> => {
    while (!stop.set) {
      await new Promise<void>((resolve) => {
        const ws = new WebSocket(`${base.replace('http', 'ws')}/api/v1/flows/stream?since=10m`);
        let frames = 0;
        const done = (): void => {
          ws.terminate();
          resolve();
        };
        ws.on('message', () => {
          if (++frames >= 10_000) {
            answered++;
            done();
          }
        });
        ws.on('error', done);
        ws.on('close', done);
        setTimeout(done, 20_000);
      });
    }
  };
  await Promise.all([pages(''), pages('&format=summary'), backfills()]);
  return answered;
}

export async function benchMemory(rate: number, seconds: number, withReads = false): Promise<Figure[]> {
  const { dir, cleanup } = tempDir('flowkeeper-bench-memory-');
  const port = await freePort();
  const fk = spawn(process.execPath, [CLI, 'demo', '--sim-rate', String(rate), '--db', join(dir, 'demo.db'), '--listen', `127.0.0.1:${port}`, '--observer-listen', '127.0.0.1:0', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'], env: flowkeeperEnv() });
  const samples: { t: number; rss: number }[] = [];
  const stop = { set: false };
  let reads: Promise<number> | null = null;
  try {
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await new Promise((r) => setTimeout(r, 5000));
      if (fk.exitCode !== null) throw new Error(`flowkeeper demo exited with ${fk.exitCode}`);
      samples.push({ t: (performance.now() - t0) / 1000, rss: rssBytes(fk.pid!) });
      // Reads start after the first minute, once there are 10,000 flows to page through.
      if (withReads && reads === null && samples.at(-1)!.t >= 60) reads = heavyReads(`http://127.0.0.1:${port}`, stop);
    }
    stop.set = true;
    const answered = reads ? await reads : 0;
    const status = (await (await fetch(`http://127.0.0.1:${port}/api/v1/status`)).json()) as { ingest: { stored: number } };
    const at = (s: number): number => samples.reduce((best, x) => (Math.abs(x.t - s) < Math.abs(best.t - s) ? x : best)).rss;
    const peak = Math.max(...samples.map((x) => x.rss));
    const half = seconds / 2;
    const growth = ((at(seconds) - at(half)) / 1e6) / (half / 60);
    const curve = [0.25, 0.5, 0.75, 1].map((f) => `${Math.round(at(seconds * f) / 1e6)}`).join(' → ');
    return [
      { name: 'RSS after the first minute', value: at(60) / 1e6, unit: 'MB' },
      { name: 'peak RSS', value: peak / 1e6, unit: 'MB', target: { op: '<=', value: withReads ? MANIFEST_LIMIT_MB : 300 }, note: `RSS at ¼, ½, ¾, end: ${curve} MB; ${status.ingest.stored.toLocaleString('en-US')} flows stored${withReads ? `; ${answered} heavy reads answered` : ''}` },
      { name: 'RSS growth over the last half of the run', value: growth, unit: 'MB/min', target: { op: '<=', value: 1 } },
    ];
  } finally {
    stop.set = true;
    if (fk.exitCode === null) {
      fk.kill('SIGTERM');
      await new Promise((r) => fk.once('exit', r));
    }
    cleanup();
  }
}

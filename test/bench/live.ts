import { fork, spawn } from 'node:child_process';
import { join } from 'node:path';
import WebSocket from 'ws';
import { ROOT_DIR } from '../../src/paths.js';
import { freePort, tempDir } from '../helpers/harness.js';
import { CpuLedger, flowkeeperEnv } from './measure.js';
import type { Figure } from './measure.js';

const CLI = join(ROOT_DIR, 'dist', 'src', 'cli.js');

export function timeMs(rfc3339: string): number {
  const m = /\.(\d+)Z$/.exec(rfc3339);
  const frac = m ? Number(`0.${m[1]}`) * 1000 : 0;
  return Math.floor(Date.parse(rfc3339) / 1000) * 1000 + frac;
}

/**
 * Flow seen → delivered to a WebSocket subscriber while ingesting `rate` flows/s:
 * the paced feeder stamps each flow with its send time; the subscriber (drops
 * only, as an SRE would watch) measures arrival minus that time.
 */
/** A paced feeder process and `flowkeeper serve` reading from it, both stopped by `stop`. */
export interface PacedServe {
  base: string;
  observerPort: number;
  /** Flows stored so far (from /api/v1/status). */
  stored(): Promise<number>;
  /** Messages the live stream dropped before encoding them (flowkeeper_live_dropped_total). */
  liveDropped(): Promise<number>;
  /** CPU of flowkeeper's threads, the feeder and this process (the bench's clients) from now on; its shares are per stored flow */
  cpuLedger(): CpuLedger;
  stop(): Promise<void>;
}

export async function startPacedServe(rate: number): Promise<PacedServe> {
  const { dir, cleanup } = tempDir('flowkeeper-bench-live-');
  const feeder = fork(join(ROOT_DIR, 'dist', 'test', 'bench', 'feeder.js'), [String(rate)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => feeder.on('message', (m: { type: string; port: number }) => m.type === 'listening' && resolve(m.port)));
  const [apiPort, observerPort] = [await freePort(), await freePort()];
  const base = `127.0.0.1:${apiPort}`;
  // BENCH_NODE_ARGS: extra node flags for flowkeeper (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const fk = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--relay', `bench=127.0.0.1:${port}`, '--db', join(dir, 'live.db'), '--listen', base, '--observer-listen', `127.0.0.1:${observerPort}`, '--log-level', 'warn'], { stdio: 'inherit', env: flowkeeperEnv() });
  const stop = async (): Promise<void> => {
    // SIGTERM lets flowkeeper stop cleanly (and write a --cpu-prof profile); SIGKILL if it takes long.
    fk.kill('SIGTERM');
    const killer = setTimeout(() => fk.kill('SIGKILL'), 10_000);
    await new Promise((r) => (fk.exitCode !== null ? r(null) : fk.once('exit', r)));
    clearTimeout(killer);
    feeder.kill();
    cleanup();
  };
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    if (await fetch(`http://${base}/healthz`).then((r) => r.ok, () => false)) break;
  }
  const stored = async (): Promise<number> => ((await (await fetch(`http://${base}/api/v1/status`)).json()) as { ingest: { stored: number } }).ingest.stored;
  const liveDropped = async (): Promise<number> => {
    const text = await (await fetch(`http://${base}/metrics`)).text();
    return Number(/^flowkeeper_live_dropped_total (\S+)$/m.exec(text)?.[1] ?? NaN);
  };
  const cpuLedger = (): CpuLedger => {
    const ledger = new CpuLedger(fk.pid!, [{ name: 'feeder', pid: () => feeder.pid }, { name: 'bench clients', pid: () => process.pid }]);
    ledger.start();
    return ledger;
  };
  return { base, observerPort, stored, liveDropped, cpuLedger, stop };
}

/** p-quantile of sorted values (NaN when empty). */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/**
 * Who subscribes: `subscribers` clients with the same filter (query parameters of
 * the stream; '' for every flow). Only the first is timed; each costs flowkeeper
 * the same. The timed client parses each frame with JSON.parse (`parse: 'full'`),
 * or reads only its time from the frame's end (`'time'`): on a 2-core machine the
 * client's JSON.parse takes CPU from flowkeeper, which a client on its own
 * machine would not.
 */
export interface LiveSubscribers {
  filter: string;
  subscribers: number;
  parse: 'full' | 'time';
}

export async function benchLive(rate: number, seconds: number, { filter, subscribers, parse }: LiveSubscribers): Promise<Figure[]> {
  const { base, stored, liveDropped, cpuLedger, stop } = await startPacedServe(rate);
  try {
    const latencies: number[] = [];
    const lightParse = parse === 'time';
    let lost = 0;
    let measuring = false;
    const url = `ws://${base}/api/v1/flows/stream?${filter}`;
    const others = Array.from({ length: Math.max(0, subscribers - 1) }, () => new WebSocket(url));
    let othersFrames = 0;
    for (const o of others) o.on('message', () => measuring && othersFrames++);
    const ws = new WebSocket(url);
    ws.on('message', (data) => {
      const now = Date.now();
      if (!measuring) return;
      const buf = data as Buffer;
      // A flow frame ends with its time: {"type":"flow",…,"time":"2026-…Z"}
      if (lightParse && buf.subarray(0, 15).toString('latin1') === '{"type":"flow",') {
        const tail = buf.subarray(buf.length - 40).toString('latin1');
        latencies.push(now - timeMs(tail.slice(tail.lastIndexOf('"time":"') + 8, -2)));
        return;
      }
      const frame = JSON.parse(data.toString()) as { type: string; count?: number; flow?: { time: string } };
      if (frame.type === 'flow' && frame.flow) latencies.push(now - timeMs(frame.flow.time));
      if (frame.type === 'lost') lost += frame.count ?? 0;
    });
    await Promise.all([ws, ...others].map((w) => new Promise((resolve, reject) => {
      w.once('open', resolve).once('error', reject);
      w.once('unexpected-response', (_req, res) => reject(new Error(`${url}: HTTP ${res.statusCode} (the filter must be query parameters of the stream, e.g. verdict=DROPPED, or empty for all flows)`)));
    })));
    await new Promise((r) => setTimeout(r, 3000));
    const [s0, d0] = [await stored(), await liveDropped()];
    const cpu = cpuLedger();
    measuring = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    measuring = false;
    const s1 = await stored();
    const shares = cpu.shares(s1 - s0);
    const ingestRate = (s1 - s0) / ((performance.now() - t0) / 1000);
    // Lost before encoding: the live thread fell behind (or every subscriber was stalled); the rest of `lost`: this client was behind.
    const droppedEarly = (await liveDropped()) - d0;
    for (const w of [ws, ...others]) w.close();
    latencies.sort((a, b) => a - b);
    const p = (q: number): number => quantile(latencies, q);
    return [
      { name: 'flow → WebSocket subscriber latency: p99', value: p(0.99), unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${p(0.5).toFixed(1)} ms, ${latencies.length.toLocaleString('en-US')} flows delivered, ${lost} lost (${droppedEarly} of them before encoding), subscription "${filter}", client ${parse === 'full' ? 'JSON.parse of every frame' : 'reads each frame\'s time only'}${others.length ? `; ${others.length} more subscribers got ${othersFrames.toLocaleString('en-US')} frames` : ''}` },
      { name: 'ingest rate meanwhile', value: ingestRate, unit: 'flows/s', target: { op: '>=', value: rate * 0.95 }, note: `feeder paced at ${rate.toLocaleString('en-US')}/s` },
      ...shares,
    ];
  } finally {
    await stop();
  }
}

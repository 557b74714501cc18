import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../../src/paths.js';
import { freePort, tempDir } from '../helpers/harness.js';
import { CpuLedger, cpuSeconds, flowkeeperEnv, peakRssBytes } from './measure.js';
import type { Figure } from './measure.js';

const CLI = join(ROOT_DIR, 'dist', 'src', 'cli.js');

async function status(url: string): Promise<{ ingest: { stored: number; received: number } }> {
  const res = await fetch(`${url}/api/v1/status`);
  return (await res.json()) as { ingest: { stored: number; received: number } };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function ask<T>(child: ChildProcess, type: string, reply: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type: string }): void => {
      if (m.type === reply) {
        child.off('message', on);
        resolve(m as T);
      }
    };
    child.on('message', on);
    if (type) child.send({ type });
  });
}

/** Extra work run against the API while ingest is measured; `stop` ends it and reports its figures. */
export type Load = (apiUrl: string) => { stop: () => Promise<Figure[]> };

/** The SQLite store's size and flow count (none when BENCH_FK_ARGS chose another store). */
async function sqliteBytesPerFlow(dbPath: string): Promise<{ bytes: number; stored: number }> {
  const db = (await import('../../src/store/sqlite/sqlite.js')).openDatabase(dbPath, { readonly: true });
  const stored = db.prepare('SELECT sum(flows) FROM partitions').pluck().get() as number;
  db.close();
  return { bytes: statSync(dbPath).size, stored };
}

export interface IngestOptions {
  /** flowkeeper serve's arguments beyond the relay, store file and listeners */
  args?: string[];
  load?: Load;
  /** Other processes on these cores whose CPU per stored flow is part of the cost (a ClickHouse server) */
  others?: { name: string; pid: () => number | undefined }[];
}

/** One sustained ingest run's figures. */
export interface IngestRun {
  rate: Figure;
  /** flowkeeper's CPU per stored flow, all its threads */
  cpu: Figure;
  /** CPU per stored flow of each process on the machine and of flowkeeper's threads, and how many of the cores they kept busy */
  cpuShares: Figure[];
  rss: Figure;
  disk: Figure | null;
  feeder: Figure;
  load: Figure[];
}

export function ingestFigures(run: IngestRun): Figure[] {
  return [run.rate, run.cpu, ...run.cpuShares, run.rss, ...(run.disk ? [run.disk] : []), run.feeder, ...run.load];
}

/**
 * Sustained end-to-end ingest: feeder process → gRPC → flowkeeper process
 * (decode, store, roll up). Measures flowkeeper's own CPU (by thread) and peak
 * RSS from /proc, and the CPU of the feeder and of `others`.
 */
export async function benchIngest(seconds: number, options: IngestOptions = {}): Promise<IngestRun> {
  const { args = [], load, others = [] } = options;
  const { dir, cleanup } = tempDir('flowkeeper-bench-');
  const feeder = fork(join(ROOT_DIR, 'dist', 'test', 'bench', 'feeder.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port, avgTemplateBytes } = await ask<{ port: number; avgTemplateBytes: number }>(feeder, '', 'listening');
  const apiPort = await freePort();
  const url = `http://127.0.0.1:${apiPort}`;
  const dbPath = join(dir, 'bench.db');
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const fk = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--relay', `bench=127.0.0.1:${port}`, '--db', dbPath, '--listen', `127.0.0.1:${apiPort}`, '--observer-listen', '127.0.0.1:0', '--log-level', 'warn', ...args, ...(process.env.BENCH_FK_ARGS ?? '').split(' ').filter(Boolean)], { stdio: 'inherit', env: flowkeeperEnv() });
  const cpu = new CpuLedger(fk.pid!, [{ name: 'feeder', pid: () => feeder.pid }, ...others]);
  try {
    let ready = false;
    for (let i = 0; i < 100 && !ready; i++) {
      await sleep(100);
      ready = await status(url).then(() => true, () => false);
    }
    await sleep(3000); // warm-up: JIT, first partition, dictionaries
    const s0 = (await status(url)).ingest.stored;
    const c0 = cpuSeconds(fk.pid!);
    cpu.start();
    const f0 = (await ask<{ sent: number }>(feeder, 'stats', 'stats')).sent;
    const t0 = performance.now();
    const running = load?.(url);
    await sleep(seconds * 1000);
    const loadFigures = (await running?.stop()) ?? [];
    const s1 = (await status(url)).ingest.stored;
    const c1 = cpuSeconds(fk.pid!);
    const shares = cpu.shares(s1 - s0);
    const f1 = (await ask<{ sent: number }>(feeder, 'stats', 'stats')).sent;
    const elapsed = (performance.now() - t0) / 1000;
    const peak = peakRssBytes(fk.pid!);
    const flows = s1 - s0;
    feeder.send({ type: 'exit' });
    fk.kill('SIGTERM');
    await new Promise((r) => fk.once('exit', r));
    const disk = existsSync(dbPath) ? await sqliteBytesPerFlow(dbPath) : null;
    return {
      rate: { name: 'sustained ingest (feeder → gRPC → stored + rolled up)', value: flows / elapsed, unit: 'flows/s', target: { op: '>=', value: 100_000 }, note: disk ? undefined : 'into the store BENCH_FK_ARGS chose' },
      cpu: { name: 'flowkeeper CPU per flow (all threads)', value: ((c1 - c0) / flows) * 1e6, unit: 'µs', note: `${((c1 - c0) / elapsed).toFixed(2)} cores busy` },
      cpuShares: shares,
      rss: { name: 'peak RSS of the flowkeeper process', value: peak / 1e6, unit: 'MB', target: { op: '<=', value: 300 } },
      disk: disk ? { name: 'disk per stored flow (whole file: rows, indexes, dicts, rollups)', value: disk.bytes / disk.stored, unit: 'B', target: { op: '<=' as const, value: 120 }, note: `${disk.stored.toLocaleString('en-US')} flows, ${(disk.bytes / 1e6).toFixed(1)} MB` } : null,
      feeder: { name: 'feeder offered rate (own process)', value: (f1 - f0) / elapsed, unit: 'msg/s', note: `avg encoded flow ${avgTemplateBytes} B` },
      load: loadFigures,
    };
  } finally {
    if (fk.exitCode === null) fk.kill('SIGKILL');
    if (feeder.connected) feeder.kill();
    cleanup();
  }
}

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { MIGRATIONS_DIR, ROOT_DIR } from '../../src/paths.js';
import { migrate } from '../../src/store/sqlite/migrate.js';
import { openDatabase } from '../../src/store/sqlite/sqlite.js';
import { FlowWriter } from '../../src/store/sqlite/writer.js';
import { freePort, tempDir } from '../helpers/harness.js';
import { flowkeeperEnv } from './measure.js';
import type { Figure } from './measure.js';
import { buildTemplates, spreadOverLastDay, templateBatches } from './templates.js';

const CLI = join(ROOT_DIR, 'dist', 'src', 'cli.js');
const BATCH = 4096;

/** Bytes of rollup_1m (table and index pages) and its row count, from SQLite's dbstat. */
function rollupSize(dbPath: string): { bytes: number; rows: number; labelSets: number } {
  const db = openDatabase(dbPath);
  try {
    const bytes = db.prepare("SELECT sum(pgsize) FROM dbstat WHERE name IN ('rollup_1m', 'rollup_1m_verdict_minute')").pluck().get() as number;
    const rows = db.prepare('SELECT count(*) FROM rollup_1m').pluck().get() as number;
    const labelSets = db.prepare('SELECT count(*) FROM label_sets').pluck().get() as number;
    return { bytes, rows, labelSets };
  } finally {
    db.close();
  }
}

/** Writes `flows` simulator flows spread evenly over the last 24 hours straight into a store file. */
export function buildStore(dbPath: string, flows: number): number {
  const db = openDatabase(dbPath);
  migrate(db, MIGRATIONS_DIR);
  const writer = new FlowWriter(db, 5);
  const templates = buildTemplates(20_000, 7);
  const started = performance.now();
  for (const { buf, offsets } of templateBatches(templates, flows, BATCH, spreadOverLastDay(flows))) writer.writeBatch('bench', buf, offsets);
  writer.flushClasses();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return (performance.now() - started) / 1000;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function timeRequests(url: string, runs: number): Promise<{ p50: number; p95: number; rows: number }> {
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const res = await fetch(url);
    const text = await res.text();
    if (!res.ok) throw new Error(`${url}: ${res.status} ${text}`);
    const ms = performance.now() - t0;
    if (i >= 3) times.push(ms); // the first runs warm caches and JIT
    rows = text.startsWith('{"flow"') ? text.split('\n').filter(Boolean).length : rows;
  }
  return { p50: percentile(times, 50), p95: percentile(times, 95), rows };
}

/** Query latency over a store of `flows` flows spanning 24 h, through the real HTTP API. */
export async function benchQueries(flows: number): Promise<Figure[]> {
  const { dir, cleanup } = tempDir('flowkeeper-bench-q-');
  const dbPath = join(dir, 'q.db');
  const buildSeconds = buildStore(dbPath, flows);
  const rollups = rollupSize(dbPath);
  const fk = await serveStore(dbPath);
  const base = fk.base;
  try {
    const drops = await timeRequests(`${base}/api/v1/flows?verdict=DROPPED&namespace=payments&since=24h&limit=100`, 50);
    const dropsAsc = await timeRequests(`${base}/api/v1/flows?verdict=DROPPED&namespace=payments&since=24h&limit=100&order=asc`, 50);
    const agg = await timeRequests(`${base}/api/v1/aggregate?group_by=drop_reason,source_namespace&verdict=DROPPED&since=24h`, 30);
    const byLabels = await timeRequests(`${base}/api/v1/aggregate?group_by=source_label:app,destination_label:app&since=24h`, 30);
    const byLabelsMixed = await timeRequests(`${base}/api/v1/aggregate?group_by=destination_label:app,verdict,destination_port,policy&from_namespace=payments&since=24h&bucket=1h`, 30);
    const n = `over ${(flows / 1e6).toFixed(1)} M flows / 24 h (store built at ${Math.round(flows / buildSeconds).toLocaleString('en-US')} flows/s)`;
    return [
      { name: 'drops in one namespace, newest 100, 24 h: p95', value: drops.p95, unit: 'ms', target: { op: '<=', value: 50 }, note: `p50 ${drops.p50.toFixed(1)} ms, ${drops.rows} rows, ${n}` },
      { name: 'drops in one namespace, first 100 (asc), 24 h: p95', value: dropsAsc.p95, unit: 'ms', target: { op: '<=', value: 50 }, note: `p50 ${dropsAsc.p50.toFixed(1)} ms` },
      { name: 'aggregate drops by reason × source ns, 24 h: p95', value: agg.p95, unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${agg.p50.toFixed(1)} ms, from rollups` },
      { name: 'aggregate by src × dst label app, 24 h: p95', value: byLabels.p95, unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${byLabels.p50.toFixed(1)} ms, from rollups` },
      { name: 'aggregate label×verdict×port×policy, 24 h: p95', value: byLabelsMixed.p95, unit: 'ms', target: { op: '<=', value: 100 }, note: `p50 ${byLabelsMixed.p50.toFixed(1)} ms, one namespace, hourly buckets` },
      { name: 'rollup bytes per stored flow', value: rollups.bytes / flows, unit: 'B', note: `${rollups.rows.toLocaleString('en-US')} rollup rows, ${(rollups.bytes / 1e6).toFixed(1)} MB, ${rollups.labelSets} label sets` },
    ];
  } finally {
    fk.stop();
    cleanup();
  }
}

/** `flowkeeper serve` over a built store (its relay never answers), once /healthz answers. */
export async function serveStore(dbPath: string, extra: string[] = []): Promise<{ base: string; stop: () => void }> {
  const apiPort = await freePort();
  const deadRelay = await freePort();
  const fk = spawn(process.execPath, [CLI, 'serve', '--relay', `none=127.0.0.1:${deadRelay}`, '--db', dbPath, '--listen', `127.0.0.1:${apiPort}`, '--observer-listen', '127.0.0.1:0', '--log-level', 'error', '--backoff-initial', '30s', ...extra], { stdio: 'inherit', env: flowkeeperEnv() });
  const base = `http://127.0.0.1:${apiPort}`;
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) break;
  }
  return { base, stop: () => fk.kill('SIGKILL') };
}

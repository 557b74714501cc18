import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT_DIR } from '../../src/paths.js';

/**
 * The malloc settings `npm start`, `npm run demo` and the Dockerfile run
 * flowkeeper with (read from package.json), so the bench measures what ships.
 * For flowkeeper's process only: the bench's own processes run without them.
 */
function shippedMallocEnv(): Record<string, string> {
  const scripts = (JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  return Object.fromEntries([...scripts.start.matchAll(/\b(MALLOC_\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
}

/** The environment flowkeeper runs in here: this one, with the shipped malloc settings (BENCH_MALLOC=default: glibc's defaults). */
export function flowkeeperEnv(): NodeJS.ProcessEnv {
  return process.env.BENCH_MALLOC === 'default' ? process.env : { ...process.env, ...shippedMallocEnv() };
}

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** User + system CPU seconds in a /proc stat file (a process's or a thread's). */
function statCpuSeconds(path: string): number {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // CLK_TCK is 100 on Linux x86_64 and arm64
}

/**
 * CPU seconds a process's threads have used, by thread: the main thread as
 * "main", threads flowkeeper names (fk-writer, fk-live, fk-query) by name, and
 * the rest (V8's and libuv's helpers: GC, compilers, I/O) as "helpers".
 * Threads that have ended are not counted.
 */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const name = tid === String(pid) ? 'main' : comm.startsWith('fk-') ? comm : 'helpers';
      byName.set(name, (byName.get(name) ?? 0) + statCpuSeconds(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return byName;
}

/** A process on this machine whose CPU is part of a run's cost. */
export interface CostedProcess {
  name: string;
  pid: () => number | undefined;
}

type CpuSnapshot = { at: number; threads: Map<string, number>; others: number[] };

/**
 * Where the CPU of a run went, per flow: flowkeeper's threads, each other
 * process (feeder, client, ClickHouse), and in all against the machine's
 * cores, which says how fast these cores could go at that cost.
 */
export class CpuLedger {
  private first: CpuSnapshot | null = null;

  constructor(
    private readonly flowkeeperPid: number,
    private readonly others: CostedProcess[],
  ) {}

  start(): void {
    this.first = this.snapshot();
  }

  shares(flows: number): Figure[] {
    const [a, b] = [this.first!, this.snapshot()];
    const elapsed = (b.at - a.at) / 1000;
    const perFlow = (seconds: number): number => (seconds / flows) * 1e6;
    const threads = [...b.threads].map(([name, s]) => ({ name, seconds: s - (a.threads.get(name) ?? 0) })).sort((x, y) => y.seconds - x.seconds);
    const others = this.others.map((o, i) => ({ name: o.name, seconds: b.others[i] - a.others[i] }));
    const total = [...threads, ...others].reduce((sum, t) => sum + t.seconds, 0);
    const cores = cpus().length;
    return [
      ...threads.map((t) => ({ name: `  … flowkeeper thread ${t.name}`, value: perFlow(t.seconds), unit: 'µs', note: `${(t.seconds / elapsed).toFixed(2)} cores` })),
      ...others.map((o) => ({ name: `  … ${o.name} (own process)`, value: perFlow(o.seconds), unit: 'µs', note: `${(o.seconds / elapsed).toFixed(2)} cores` })),
      { name: 'CPU per flow, every process above', value: perFlow(total), unit: 'µs',
        note: `${(total / elapsed).toFixed(2)} of ${cores} cores busy; at this cost ${cores} cores carry at most ${Math.round((flows / total) * cores).toLocaleString('en-US')} flows/s` },
    ];
  }

  private snapshot(): CpuSnapshot {
    const others = this.others.map((o) => {
      const pid = o.pid();
      return pid ? cpuSeconds(pid) : 0;
    });
    return { at: performance.now(), threads: threadCpuSeconds(this.flowkeeperPid), others };
  }
}

/** Peak resident set size of a process in bytes (VmHWM). */
export function peakRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

export interface Figure {
  name: string;
  value: number;
  unit: string;
  target?: { op: '>=' | '<='; value: number };
  note?: string;
}

export function printFigures(title: string, figures: Figure[]): void {
  const lines = [`\n${title}`, `${'measure'.padEnd(48)} ${'measured'.padStart(14)}   target`];
  for (const f of figures) {
    const measured = `${Number.isFinite(f.value) ? f.value.toLocaleString('en-US', { maximumFractionDigits: 1 }) : 'n/a'} ${f.unit}`;
    let target = '—';
    if (f.target) {
      const ok = f.target.op === '>=' ? f.value >= f.target.value : f.value <= f.target.value;
      target = `${f.target.op} ${f.target.value.toLocaleString('en-US')} ${f.unit}  ${ok ? 'MET' : 'NOT MET'}`;
    }
    lines.push(`${f.name.padEnd(48)} ${measured.padStart(14)}   ${target}${f.note ? `  (${f.note})` : ''}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

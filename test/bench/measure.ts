import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // CLK_TCK is 100 on Linux x86_64 and arm64
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

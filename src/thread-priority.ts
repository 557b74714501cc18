import { execFileSync } from 'node:child_process';
import { readlinkSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Lowers the calling thread's scheduling priority to `nice` (0–19). On Linux a
 * thread is a task with its own nice value, so a worker thread can yield to the
 * process's other threads (ingest first) when the CPU is short, and still use
 * whatever is idle. With `idle`, the thread also moves to Linux's SCHED_IDLE
 * class: it runs only on CPU time no normal thread wants. Node cannot set a
 * scheduling class itself, so util-linux's chrt does (Debian always has it).
 * Elsewhere, or when not allowed, the thread keeps what it could get.
 */
export function lowerThreadPriority(nice: number, idle = false): void {
  if (nice <= 0) return;
  let tid: number;
  try {
    tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid)) return;
    setPriority(tid, nice);
  } catch {
    // Not Linux, or not allowed: the thread runs at normal priority.
    return;
  }
  if (!idle) return;
  try {
    execFileSync('chrt', ['--idle', '-p', '0', String(tid)], { stdio: 'ignore', timeout: 5000 });
  } catch {
    // No chrt, or not allowed: the thread keeps its nice value.
  }
}

/**
 * Names the calling thread (Linux keeps 15 bytes), so `top -H`, `ps -L` and
 * /proc/<pid>/task/<tid>/comm tell flowkeeper's threads apart; elsewhere a no-op.
 */
export function nameThread(name: string): void {
  try {
    writeFileSync('/proc/thread-self/comm', name.slice(0, 15));
  } catch {
    // Not Linux: the thread keeps its name.
  }
}

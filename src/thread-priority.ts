import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Lowers the calling thread's scheduling priority to `nice` (0–19). On Linux a
 * thread is a task with its own nice value, so a worker thread can yield to the
 * process's other threads (ingest first) when the CPU is short, and still use
 * whatever is idle. Elsewhere, or when not allowed, the thread keeps its priority.
 */
export function lowerThreadPriority(nice: number): void {
  if (nice <= 0) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid)) setPriority(tid, nice);
  } catch {
    // Not Linux, or not allowed: the thread runs at normal priority.
  }
}

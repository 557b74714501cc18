import { getHeapStatistics } from 'node:v8';
import type { WorkerReply } from './protocol.js';

const HEAP_REPORT_MS = 10_000;

/**
 * Reports this writer thread's V8 heap now and every 10 s, for status (the
 * main thread cannot read another isolate's heap on Node 20).
 */
export function reportHeap(reply: (m: WorkerReply) => void): void {
  const report = (): void => {
    const h = getHeapStatistics();
    reply({ type: 'heap', heapUsed: h.used_heap_size, heapTotal: h.total_heap_size });
  };
  report();
  setInterval(report, HEAP_REPORT_MS).unref();
}

import type { BatchResult } from '../store/writer.js';

/** What the main thread learns about one stored batch (BatchResult without the rows). */
export type BatchSummary = Omit<BatchResult, 'rows'> & { relay: string; writeMs: number };

import type { BatchResult } from '../store/writes.js';

/** What the main thread learns about one stored batch. */
export type BatchSummary = BatchResult & { relay: string; writeMs: number };

const STORAGE_RETRY_FIRST_MS = 100;
const STORAGE_RETRY_MAX_MS = 5_000;

/** How long a writer waits before its `attempt`-th retry of a batch storage refused (100 ms doubling to 5 s). */
export function storageRetryDelayMs(attempt: number): number {
  return Math.min(STORAGE_RETRY_MAX_MS, STORAGE_RETRY_FIRST_MS * 2 ** Math.min(attempt, 10));
}

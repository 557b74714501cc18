/** Bounds every query engine applies. */
export interface QueryLimits {
  /** Most (bucket × group) points one aggregate answer may hold: bounds its size. */
  maxPoints: number;
  /** Most distinct (bucket, group) pairs an aggregate may count on the way: bounds its memory. */
  maxEntries: number;
  /** Longest range an aggregate that needs raw flows may cover (rollup ones may reach further). */
  rawMaxRangeSeconds: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = { maxPoints: 100_000, maxEntries: 300_000, rawMaxRangeSeconds: 7 * 86_400 };

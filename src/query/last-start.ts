import type { FlowPosition } from './position.js';
import { stepPosition } from './position.js';

/** One newest-first page of positions only: how many flows it held and where it ended. */
export type CountPage = (limit: number, after: FlowPosition | null) => Promise<{ count: number; next: FlowPosition | null }>;

/**
 * Where the newest `number` flows of a range begin, as the position an
 * oldest-first scan starts after (one step before the oldest of them), found
 * by counting newest-first pages of at most `pageSize`; null when the range
 * holds fewer (then the whole range is the answer).
 */
export async function lastStart(number: number, pageSize: number, page: CountPage, closed: () => boolean = () => false): Promise<FlowPosition | null> {
  let remaining = number;
  let after: FlowPosition | null = null;
  while (remaining > 0 && !closed()) {
    const p = await page(Math.min(remaining, pageSize), after);
    remaining -= p.count;
    if (!p.next) return null;
    after = p.next;
  }
  return after ? stepPosition(after, -1) : null;
}

import { FlowkeeperError } from '../errors.js';

/**
 * Admission control for queries that run on the event loop. Each query's time
 * beyond LIGHT_MS is added to a debt that drains at `share` of wall-clock time
 * (0.5: heavy queries may use at most half the loop over time). While the debt
 * exceeds one query budget, new queries are refused with 429 and a Retry-After, so a burst of
 * heavy requests cannot queue up behind each other and starve ingest, the
 * live stream and the health probes.
 */
export class QueryGate {
  /** Queries shorter than this are free: only heavy ones queue up behind each other. */
  static readonly LIGHT_MS = 25;
  /** The least debt allowed before refusing, whatever the budget. */
  static readonly MIN_ALLOWANCE_MS = 250;
  private debtMs = 0;
  private at: number;
  private readonly allowanceMs: number;

  constructor(
    budgetMs: number,
    private readonly share = 0.5,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.at = clock();
    this.allowanceMs = Math.max(budgetMs, QueryGate.MIN_ALLOWANCE_MS);
  }

  private drain(): void {
    const now = this.clock();
    this.debtMs = Math.max(0, this.debtMs - (now - this.at) * this.share);
    this.at = now;
  }

  /** Throws 429 when the query capacity is spent; otherwise lets the query run. */
  admit(): void {
    this.drain();
    if (this.debtMs > this.allowanceMs) {
      const retrySeconds = Math.ceil((this.debtMs - this.allowanceMs) / this.share / 1000);
      throw new FlowkeeperError('FLOWKEEPER_ERR_BUSY', `queries are using all the time flowkeeper gives them; retry in ${retrySeconds} s (narrower queries cost less)`, undefined, retrySeconds);
    }
  }

  /** Records the time a query took (beyond the light allowance). */
  spent(ms: number): void {
    this.drain();
    this.debtMs += Math.max(0, ms - QueryGate.LIGHT_MS);
  }

  /** Runs `query` through the gate. */
  run<T>(query: () => T): T {
    this.admit();
    const started = this.clock();
    try {
      return query();
    } finally {
      this.spent(this.clock() - started);
    }
  }
}

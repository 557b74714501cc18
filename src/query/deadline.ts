/**
 * When a query must stop: its time budget ran out, or (in a query worker) the
 * client went away and the pool raised the shared cancel flag.
 */
export class Deadline {
  static readonly NEVER = new Deadline(Infinity);

  constructor(
    /** performance.now() time after which the query stops. */
    readonly at: number,
    /** Shared flag: non-zero once the query is cancelled. */
    private readonly cancelFlag: Int32Array | null = null,
  ) {}

  static in(ms: number, cancelFlag: Int32Array | null = null): Deadline {
    return new Deadline(performance.now() + ms, cancelFlag);
  }

  get cancelled(): boolean {
    return this.cancelFlag !== null && Atomics.load(this.cancelFlag, 0) !== 0;
  }

  passed(): boolean {
    return performance.now() > this.at || this.cancelled;
  }
}

import { FlowkeeperError } from '../errors.js';
import type { AggregateLabels, AggregateRow, GroupDimension } from './aggregate.js';
import type { Deadline } from './deadline.js';
import type { FilterSet } from './filter.js';
import type { FlowTime } from '../flows/record.js';

export interface AggregateQuery {
  dims: GroupDimension[];
  filters: FilterSet;
  /** Whole minutes: [sinceMinute, untilMinute). */
  sinceMinute: number;
  untilMinute: number;
  bucketMinutes: number | null;
  top: number;
  /** Most distinct (bucket, group) entries counted before giving up (bounds memory). */
  maxEntries: number;
  /** Aggregation gives up when it passes. */
  deadline: Deadline;
}

export interface AggregateGroup {
  key: Record<string, string | number>;
  count: number;
}

export interface AggregateResult {
  source: 'rollup' | 'raw';
  total: number;
  groups: AggregateGroup[];
  series: { start: string; groups: AggregateGroup[] }[] | null;
}

export const EMPTY_ROW: AggregateRow = {
  minute: 0, cluster: 0, verdict: 0, dropReason: 0, direction: 0, eventType: 0, srcWorkload: 0, dstWorkload: 0, srcLabels: 0, dstLabels: 0, port: 0, l4: 0, deniedBy: 0,
};

/** Counts rows into groups (and time buckets), whichever store they come from. */
export class Accumulator {
  readonly totals = new Map<string, number>();
  readonly buckets = new Map<number, Map<string, number>>();
  total = 0;

  constructor(
    private readonly q: AggregateQuery,
    private readonly labels: AggregateLabels,
  ) {}

  private entries = 0;

  add(row: AggregateRow, count: number): void {
    const key = JSON.stringify(this.q.dims.map((d) => d.value(row, this.labels)));
    this.count(this.totals, key, count);
    this.total += count;
    if (this.q.bucketMinutes) {
      const start = row.minute - (row.minute % this.q.bucketMinutes);
      let b = this.buckets.get(start);
      if (!b) this.buckets.set(start, (b = new Map()));
      this.count(b, key, count);
    }
  }

  private count(counts: Map<string, number>, key: string, n: number): void {
    const had = counts.get(key);
    if (had === undefined && ++this.entries > this.q.maxEntries) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_TOO_EXPENSIVE', `this aggregate counts more than ${this.q.maxEntries} distinct (bucket, group) pairs; group by fewer or coarser dimensions, use a larger bucket or a shorter range`, 'group_by');
    }
    counts.set(key, (had ?? 0) + n);
  }

  /** The answer: groups by count (top N and "other"), and the series when bucketed. */
  result(source: AggregateResult['source']): AggregateResult {
    const series = this.q.bucketMinutes
      ? [...this.buckets].sort((a, b) => a[0] - b[0]).map(([start, counts]) => ({ start: new Date(start * 60_000).toISOString(), groups: this.groups(counts) }))
      : null;
    return { source, total: this.total, groups: this.groups(this.totals), series };
  }

  groups(counts: Map<string, number>): AggregateGroup[] {
    const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const toGroup = ([k, count]: [string, number]): AggregateGroup => {
      const values = JSON.parse(k) as (string | number)[];
      return { key: Object.fromEntries(this.q.dims.map((d, i) => [d.name, values[i]])), count };
    };
    const top = sorted.slice(0, this.q.top).map(toGroup);
    const rest = sorted.slice(this.q.top).reduce((s, [, c]) => s + c, 0);
    if (rest > 0) top.push({ key: Object.fromEntries(this.q.dims.map((d) => [d.name, 'other'])), count: rest });
    return top;
  }
}


/** The whole minutes an aggregate over [since, until] counts: [sinceMinute, untilMinute). */
export function wholeMinutes(range: { since: FlowTime; until: FlowTime }): { sinceMinute: number; untilMinute: number } {
  return { sinceMinute: Math.floor(range.since.seconds / 60), untilMinute: Math.ceil((range.until.seconds + range.until.nanos / 1e9) / 60) };
}

/** The answer as the API returns it (with the minutes counted), refused when it would hold more than `maxPoints` points. */
export function aggregateAnswer(result: AggregateResult, minutes: { sinceMinute: number; untilMinute: number }, maxPoints: number): AggregateResult & { since: string; until: string } {
  const points = result.series?.reduce((n, b) => n + b.groups.length, 0) ?? result.groups.length;
  if (points > maxPoints) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_TOO_EXPENSIVE', `this answer would hold ${points} (bucket × group) points, more than ${maxPoints}; use a larger bucket, a smaller top or a shorter range`, 'bucket');
  }
  return { since: new Date(minutes.sinceMinute * 60_000).toISOString(), until: new Date(minutes.untilMinute * 60_000).toISOString(), ...result };
}

/** The error of an aggregate that ran out of --query-budget. */
export function aggregateBudgetExceeded(): FlowkeeperError {
  return new FlowkeeperError('FLOWKEEPER_ERR_TOO_EXPENSIVE', 'this aggregate did not finish in the query time budget (--query-budget); narrow since/until, use a larger bucket, or group and filter only by rollup dimensions (verdict, drop reason, direction, type, namespace, workload, port, protocol, policy)', 'since');
}

/** Refuses an aggregate that needs raw flows over a range longer than --query-max-range allows. */
export function checkRawRange(range: { since: FlowTime; until: FlowTime }, rawMaxRangeSeconds: number): void {
  if (range.until.seconds - range.since.seconds > rawMaxRangeSeconds) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `since: this aggregate needs raw flows (its grouping or filters go beyond the rollup dimensions), which may span at most ${rawMaxRangeSeconds / 3600} h (--query-max-range)`, 'since');
  }
}

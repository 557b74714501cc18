import { formatTimestamp } from '../flows/jsonpb.js';
import type { FlowTime } from '../flows/record.js';
import type { FilterSet } from '../query/filter.js';
import type { QueryPool } from '../query/pool.js';
import { mergeFlowClasses } from '../query/service.js';
import { mergePolicySets, parsePolicies } from './parse.js';
import { buildReplayReport } from './replay.js';
import type { ReplayReport } from './replay.js';

/** Most distinct classes of flows one replay evaluates (each is evaluated once, however many flows it holds). */
export const MAX_REPLAY_CLASSES = 200_000;
/** Longest the scan of one replay may take (it reads every flow of its range, so more than one page's budget). */
export const REPLAY_BUDGET_MS = 30_000;

export interface ReplayRequest {
  /** Proposed policies (YAML) */
  proposed: string;
  /** Policies in force (YAML); the proposed ones are added, replacing any of the same kind, namespace and name */
  inForce: string | null;
  filters: FilterSet;
  since: FlowTime;
  until: FlowTime;
  /** Groups listed per section */
  top: number;
}

/** [since, until] cut into `n` consecutive slices that do not overlap (until is inclusive, as in flow queries). */
export function timeSlices(since: FlowTime, until: FlowTime, n: number): [FlowTime, FlowTime][] {
  const start = BigInt(since.seconds) * 1_000_000_000n + BigInt(since.nanos);
  const end = BigInt(until.seconds) * 1_000_000_000n + BigInt(until.nanos);
  const count = end - start < BigInt(n) ? 1n : BigInt(n);
  const time = (ns: bigint): FlowTime => ({ seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n) });
  const out: [FlowTime, FlowTime][] = [];
  for (let i = 0n; i < count; i++) {
    const a = start + ((end - start) * i) / count + (i === 0n ? 0n : 1n);
    const b = start + ((end - start) * (i + 1n)) / count;
    out.push([time(a), time(b)]);
  }
  return out;
}

/** Replays the stored flows of a range against a policy set: the scan runs in a query thread, the judging here. */
export async function replayPolicies(queries: QueryPool, req: ReplayRequest, signal?: AbortSignal): Promise<ReplayReport> {
  const proposed = parsePolicies(req.proposed, 'policies');
  const set = req.inForce === null ? proposed : mergePolicySets(parsePolicies(req.inForce, 'in_force'), proposed);
  const withHeaders = set.rules.some((r) => r.ports.some((p) => p.l7?.http?.some((h) => h.headers.length > 0)));
  // The range is cut into one slice per query thread, scanned side by side (SQLite groups each slice's rows by sorting them).
  const slices = timeSlices(req.since, req.until, queries.parallelism);
  const scan = mergeFlowClasses(await Promise.all(slices.map(([since, until]) => queries.flowClasses({
    filters: req.filters, since, until, withHeaders, maxClasses: MAX_REPLAY_CLASSES, budgetMs: REPLAY_BUDGET_MS,
  }, signal))));
  const range = { since: formatTimestamp(req.since.seconds, req.since.nanos), until: formatTimestamp(req.until.seconds, req.until.nanos) };
  return buildReplayReport(set, scan, range, req.top);
}

import { formatTimestamp } from '../flows/jsonpb.js';
import type { FlowTime } from '../flows/record.js';
import type { FilterSet } from '../query/filter.js';
import { fromNanos, toNanos } from '../query/time.js';
import type { QueryPool } from '../query/pool.js';
import { mergeFlowClasses } from '../store/flow-classes.js';
import { Document } from 'yaml';
import type { FlowClasses } from '../store/flow-classes.js';
import { emptyPolicySet } from './model.js';
import { mergePolicySets, parsePolicies } from './parse.js';
import { buildReplayReport } from './replay.js';
import type { ReplayReport } from './replay.js';
import { suggestPolicies } from './suggest.js';
import type { SuggestedPolicy } from './suggest.js';

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

const NS_PER_HOUR = 3_600_000_000_000n;

/**
 * [since, until] cut into `n` consecutive slices that do not overlap (until is
 * inclusive, as in flow queries). Cuts fall on whole hours where the range
 * allows, so that each slice covers whole hours, which the store answers from
 * its class rows, and only the range's own ends are partial.
 */
export function timeSlices(since: FlowTime, until: FlowTime, n: number): [FlowTime, FlowTime][] {
  const start = toNanos(since);
  const end = toNanos(until);
  const count = end - start < BigInt(n) ? 1n : BigInt(n);
  const cuts = [start];
  for (let i = 1n; i < count; i++) {
    const even = start + ((end - start) * i) / count;
    const hour = (even / NS_PER_HOUR) * NS_PER_HOUR;
    cuts.push(hour > cuts[cuts.length - 1] && hour < end ? hour : even);
  }
  const out: [FlowTime, FlowTime][] = [];
  for (let i = 0; i < cuts.length; i++) {
    // Slice i ends just before the next cut; the first starts at since itself.
    const b = i + 1 < cuts.length ? cuts[i + 1] - 1n : end;
    out.push([fromNanos(cuts[i]), fromNanos(b)]);
  }
  return out;
}

/** The flows of a range grouped into classes: one slice per query thread, scanned side by side (SQLite groups each slice's rows by sorting them). */
async function scanClasses(queries: QueryPool, filters: FilterSet, since: FlowTime, until: FlowTime, withHeaders: boolean, signal?: AbortSignal): Promise<FlowClasses> {
  const slices = timeSlices(since, until, queries.parallelism);
  return mergeFlowClasses(await Promise.all(slices.map(([a, b]) => queries.flowClasses({
    filters, since: a, until: b, withHeaders, maxClasses: MAX_REPLAY_CLASSES, budgetMs: REPLAY_BUDGET_MS,
  }, signal))));
}

function rangeText(since: FlowTime, until: FlowTime): { since: string; until: string } {
  return { since: formatTimestamp(since.seconds, since.nanos), until: formatTimestamp(until.seconds, until.nanos) };
}

/** Replays the stored flows of a range against a policy set: the scan runs in query threads, the judging here. */
export async function replayPolicies(queries: QueryPool, req: ReplayRequest, signal?: AbortSignal): Promise<ReplayReport> {
  const proposed = parsePolicies(req.proposed, 'policies');
  const set = req.inForce === null ? proposed : mergePolicySets(parsePolicies(req.inForce, 'in_force'), proposed);
  const withHeaders = set.rules.some((r) => r.ports.some((p) => p.l7?.http?.some((h) => h.headers.length > 0)));
  const scan = await scanClasses(queries, req.filters, req.since, req.until, withHeaders, signal);
  return buildReplayReport(set, scan, rangeText(req.since, req.until), req.top);
}

export interface SuggestRequest {
  namespace: string;
  /** Flows with either end in the namespace */
  namespaceFilter: FilterSet;
  /** Workloads to write policies for (null: every workload of the namespace seen) */
  workloads: string[] | null;
  since: FlowTime;
  until: FlowTime;
  /** Groups listed per section of the proof */
  top: number;
}

export interface Suggestion {
  namespace: string;
  since: string;
  until: string;
  policies: SuggestedPolicy[];
  /** The policies as YAML, one document per workload */
  yaml: string;
  warnings: string[];
  /** True when replaying the range against the suggestion denies nothing that was allowed and leaves nothing undecided */
  proven: boolean;
  /** The replay of the range's flows against the suggestion */
  proof: ReplayReport;
}

/** Writes least-privilege policies for a namespace's workloads from the flows of a range, and replays those flows against them. */
export async function suggestFromHistory(queries: QueryPool, req: SuggestRequest, signal?: AbortSignal): Promise<Suggestion> {
  const range = rangeText(req.since, req.until);
  // Every flow with an end in the namespace: both sides of its traffic, whatever the verdict (denied flows show what the suggestion would newly allow).
  const scan = await scanClasses(queries, req.namespaceFilter, req.since, req.until, false, signal);
  const draft = suggestPolicies(scan, req.namespace, req.workloads ? new Set(req.workloads) : null, range);
  const yaml = draft.documents.map((d) => {
    const doc = new Document(d.policy);
    doc.commentBefore = d.comment;
    return doc.toString({ lineWidth: 0 });
  }).join('---\n');
  const set = draft.documents.length ? parsePolicies(yaml, 'suggestion') : emptyPolicySet();
  const proof = await buildReplayReport(set, scan, range, req.top);
  if (scan.truncated) draft.warnings.push(`the suggestion is drawn from part of the range only: ${proof.incomplete ?? ''}`);
  return {
    namespace: req.namespace, ...range, policies: draft.policies, yaml, warnings: [...draft.warnings, ...set.warnings],
    proven: draft.policies.length > 0 && proof.summary['newly-denied'] === 0 && proof.summary.undecidable === 0 && scan.truncated === null,
    proof,
  };
}

import type { FlowRecord, FlowTime } from '../flows/record.js';
import { toResponseJson } from '../flows/record.js';
import { summarize } from '../flows/summary.js';
import type { JsonObject } from '../flows/jsonpb.js';
import { ErrorCodes, FlowkeeperError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { parseGroupBy } from './aggregate.js';
import { FilterSet } from './filter.js';
import type { AggregateRequest, AggregateResult, FlowPosition, FlowsRequest, QueryService } from './service.js';

/**
 * Queries as plain data, so they can run in a query worker: filters travel as
 * the FlowFilters they were parsed from and group_by as its names, and are
 * compiled again where the query runs.
 */

/** What a flows job returns: FlowRecords, NDJSON text (hubble observe -o jsonpb), or summaries. */
export type FlowsOutput = 'records' | 'ndjson' | 'summary';

interface FilterSource {
  whitelist: unknown[];
  blacklist: unknown[];
}

export interface FlowsJob {
  kind: 'flows';
  filters: FilterSource;
  since: FlowTime;
  until: FlowTime;
  order: 'asc' | 'desc';
  limit: number;
  after: FlowPosition | null;
  output: FlowsOutput;
}

export interface AggregateJob {
  kind: 'aggregate';
  filters: FilterSource;
  groupBy: string;
  since: FlowTime;
  until: FlowTime;
  bucketMinutes: number | null;
  top: number;
}

export type QueryJob = FlowsJob | AggregateJob;

export interface FlowsAnswer {
  next: FlowPosition | null;
  truncated: boolean;
  /** output 'records' */
  records?: FlowRecord[];
  /** output 'ndjson': one jsonpb response line per flow */
  ndjson?: string;
  /** output 'summary' */
  summaries?: JsonObject[];
}

export type AggregateAnswer = AggregateResult & { since: string; until: string };

export type JobAnswer<J extends QueryJob> = J extends FlowsJob ? FlowsAnswer : AggregateAnswer;

export function flowsJob(req: FlowsRequest, output: FlowsOutput): FlowsJob {
  return { kind: 'flows', filters: req.filters.source(), since: req.since, until: req.until, order: req.order, limit: req.limit, after: req.after, output };
}

export function aggregateJob(req: AggregateRequest): AggregateJob {
  return {
    kind: 'aggregate', filters: req.filters.source(), groupBy: req.dims.map((d) => d.name).join(','),
    since: req.since, until: req.until, bucketMinutes: req.bucketMinutes, top: req.top,
  };
}

/** Runs a job on the engine; `cancelFlag` (shared with the pool) stops it early once set. */
export function runJob(service: QueryService, job: QueryJob, cancelFlag: Int32Array | null = null): FlowsAnswer | AggregateAnswer {
  const filters = FilterSet.parse(job.filters);
  if (job.kind === 'aggregate') {
    return service.aggregate({ filters, dims: parseGroupBy(job.groupBy), since: job.since, until: job.until, bucketMinutes: job.bucketMinutes, top: job.top }, cancelFlag);
  }
  const page = service.flows({ filters, since: job.since, until: job.until, order: job.order, limit: job.limit, after: job.after }, undefined, cancelFlag);
  const answer: FlowsAnswer = { next: page.next, truncated: page.truncated };
  if (job.output === 'records') answer.records = page.flows;
  else if (job.output === 'summary') answer.summaries = page.flows.map(summarize);
  else answer.ndjson = page.flows.map((f) => JSON.stringify(toResponseJson(f)) + '\n').join('');
  return answer;
}

/** An error as it crosses a thread boundary. */
export interface JobError {
  message: string;
  code?: string;
  parameter?: string;
  retryAfterSeconds?: number;
}

export function toJobError(err: unknown): JobError {
  if (!(err instanceof FlowkeeperError)) return { message: (err as Error).message ?? String(err) };
  return { message: err.message, code: err.code, parameter: err.parameter, retryAfterSeconds: err.retryAfterSeconds };
}

export function fromJobError(e: JobError): Error {
  if (e.code !== undefined && e.code in ErrorCodes) return new FlowkeeperError(e.code as ErrorCode, e.message, e.parameter, e.retryAfterSeconds);
  return new Error(`query failed: ${e.message}`);
}

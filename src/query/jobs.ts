import type { FlowTime } from '../flows/record.js';
import { flowKey, toResponseJson, wsFlowFrame } from '../flows/record.js';
import { summarize } from '../flows/summary.js';
import { ErrorCodes, FlowkeeperError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { parseGroupBy } from './aggregate.js';
import { compileFieldMask } from '../flows/field-mask.js';
import { recordResponse } from '../flows/responses.js';
import { WireWriter } from '../flows/wire-writer.js';
import { packFrames } from '../flows/message-batch.js';
import { FilterSet } from './filter.js';
import type { AggregateAnswer, AggregateRequest, FlowClassesRequest, FlowsRequest, QueryEngine, StoredFlow } from './engine.js';
import type { FlowClasses } from '../store/flow-classes.js';
import type { FlowPosition } from './position.js';

/**
 * Queries as plain data, so they can run in a query worker: filters travel as
 * the FlowFilters they were parsed from and group_by as its names, and are
 * compiled again where the query runs.
 */

/** What a flows job returns: NDJSON text (hubble observe -o jsonpb), summaries, or the live stream's WebSocket frames. */
export type FlowsOutput = 'ndjson' | 'summary' | 'ws';

interface FilterSource {
  whitelist: unknown[];
  blacklist: unknown[];
}

/** One page of flows in time order, as FlowsRequest has it (filters as given). */
interface PageJob {
  filters: FilterSource;
  since: FlowTime;
  until: FlowTime;
  order: 'asc' | 'desc';
  limit: number;
  after: FlowPosition | null;
}

export interface FlowsJob extends PageJob {
  kind: 'flows';
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

/** A page of the Observer API's history: GetFlowsResponse bytes, or (output 'count') positions only. */
export interface HistoryJob extends PageJob {
  kind: 'history';
  /** Field-mask paths (null: flows exactly as stored). */
  maskPaths: string[] | null;
  /** 'count': how many flows and where the page ends (finding where the last N begin); 'wire': their responses. */
  output: 'count' | 'wire';
  /** Whether each flow's flowKey is needed (a follower's live hand-over). */
  keys: boolean;
}

/** Flow classes for policy replay (FlowClassesRequest with its filters as given). */
export interface ClassesJob {
  kind: 'classes';
  filters: FilterSource;
  since: FlowTime;
  until: FlowTime;
  withHeaders: boolean;
  maxClasses: number;
  budgetMs: number;
}

export type QueryJob = FlowsJob | AggregateJob | HistoryJob | ClassesJob;

export interface FlowsAnswer {
  next: FlowPosition | null;
  truncated: boolean;
  /** output 'ndjson': one jsonpb response line per flow, as UTF-8 bytes (they cross threads without a copy and go to the socket as they are) */
  ndjson?: Uint8Array;
  /** output 'ws': each flow's WebSocket frame, back to back (frame i ends at ends[i]), with its flowKey */
  ws?: { frames: Uint8Array; ends: Uint32Array; keys: string[] };
  /** output 'summary': the summaries as one JSON array, as UTF-8 bytes (serialised where they are read, like ndjson) */
  summaries?: Uint8Array;
}

export type { AggregateAnswer } from './engine.js';

export interface HistoryAnswer {
  next: FlowPosition | null;
  truncated: boolean;
  /** Flows in the page (unreadable rows are skipped, not counted). */
  count: number;
  /** output 'wire': each GetFlowsResponse as a gRPC frame (flag byte, 32-bit length, message), back to back; frame i ends at ends[i]. */
  bytes: Uint8Array | null;
  ends: number[];
  seconds: number[];
  nanos: number[];
  keys: string[] | null;
}

export type JobAnswer<J extends QueryJob> = J extends FlowsJob ? FlowsAnswer : J extends HistoryJob ? HistoryAnswer : J extends ClassesJob ? FlowClasses : AggregateAnswer;

export function flowsJob(req: FlowsRequest, output: FlowsOutput): FlowsJob {
  return { kind: 'flows', filters: req.filters.source(), since: req.since, until: req.until, order: req.order, limit: req.limit, after: req.after, output };
}

export function aggregateJob(req: AggregateRequest): AggregateJob {
  return {
    kind: 'aggregate', filters: req.filters.source(), groupBy: req.dims.map((d) => d.name).join(','),
    since: req.since, until: req.until, bucketMinutes: req.bucketMinutes, top: req.top,
  };
}

export function classesJob(req: FlowClassesRequest): ClassesJob {
  return { kind: 'classes', filters: req.filters.source(), since: req.since, until: req.until, withHeaders: req.withHeaders, maxClasses: req.maxClasses, budgetMs: req.budgetMs };
}

function pageRequest(job: PageJob, filters: FilterSet): FlowsRequest {
  return { filters, since: job.since, until: job.until, order: job.order, limit: job.limit, after: job.after };
}

/** Runs a job on the engine; `cancelFlag` (shared with the pool) stops it early once set. */
export async function runJob(engine: QueryEngine, job: QueryJob, cancelFlag: Int32Array | null = null): Promise<JobAnswer<QueryJob>> {
  const filters = FilterSet.parse(job.filters);
  if (job.kind === 'classes') return engine.flowClasses({ ...job, filters }, cancelFlag);
  if (job.kind === 'history') return runHistory(engine, job, filters, cancelFlag);
  if (job.kind === 'aggregate') {
    return engine.aggregate({ filters, dims: parseGroupBy(job.groupBy), since: job.since, until: job.until, bucketMinutes: job.bucketMinutes, top: job.top }, cancelFlag);
  }
  const req = pageRequest(job, filters);
  // Each flow becomes its output as it is read: a page of 10,000 flows never holds 10,000 records at once.
  if (job.output === 'summary') {
    const page = await engine.readFlows(req, (flow) => JSON.stringify(summarize(flow.record())), cancelFlag);
    return { next: page.next, truncated: page.truncated, summaries: Buffer.from(`[${page.flows.join(',')}]`) };
  }
  if (job.output === 'ws') {
    const keys: string[] = [];
    const page = await engine.readFlows(req, (stored) => {
      const flow = stored.record();
      const frame = Buffer.from(wsFlowFrame(flow));
      keys.push(flowKey(flow));
      return frame;
    }, cancelFlag);
    return { next: page.next, truncated: page.truncated, ws: { ...packFrames(page.flows), keys } };
  }
  const page = await engine.readFlows(req, (flow) => `${JSON.stringify(toResponseJson(flow.record()))}\n`, cancelFlag);
  return { next: page.next, truncated: page.truncated, ndjson: Buffer.from(page.flows.join('')) };
}

/** Encodes a history page where it is read (a query thread), so the main thread only frames bytes. */
async function runHistory(engine: QueryEngine, job: HistoryJob, filters: FilterSet, cancelFlag: Int32Array | null): Promise<HistoryAnswer> {
  const req = pageRequest(job, filters);
  const answer: HistoryAnswer = { next: null, truncated: false, count: 0, bytes: null, ends: [], seconds: [], nanos: [], keys: job.keys ? [] : null };
  if (job.output === 'count') {
    const page = await engine.readFlows(req, () => true, cancelFlag);
    return { ...answer, next: page.next, truncated: page.truncated, count: page.flows.length };
  }
  const mask = job.maskPaths ? compileFieldMask(job.maskPaths) : null;
  const w = new WireWriter();
  const read = (flow: StoredFlow): true => {
    // An unreadable flow throws, leaving no frame behind (the engine skips it).
    w.grpcFrame(() => {
      if (mask) w.raw(recordResponse(flow.record(), mask));
      else flow.writeResponse(w);
      answer.keys?.push(flow.key());
    });
    answer.ends.push(w.length);
    answer.seconds.push(flow.seconds);
    answer.nanos.push(flow.nanos);
    return true;
  };
  const page = await engine.readFlows(req, read, cancelFlag);
  return { ...answer, next: page.next, truncated: page.truncated, count: page.flows.length, bytes: w.finish() };
}

/** The answer's byte buffers that may be moved, not copied, to the main thread (those that own their whole ArrayBuffer). */
export function transferables(answer: JobAnswer<QueryJob>): ArrayBuffer[] {
  const bytes = 'ndjson' in answer ? answer.ndjson : 'summaries' in answer ? answer.summaries : 'ws' in answer ? answer.ws?.frames : 'bytes' in answer ? answer.bytes : null;
  if (!bytes || bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) return [];
  return [bytes.buffer as ArrayBuffer];
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

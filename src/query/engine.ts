import type { FlowRecord, FlowTime } from '../flows/record.js';
import type { WireWriter } from '../flows/wire-writer.js';
import type { AggregateResult } from './accumulator.js';
import type { FlowClasses } from '../store/flow-classes.js';
import type { GroupDimension } from './aggregate.js';
import type { FilterSet } from './filter.js';
import type { FlowPosition } from './position.js';

/**
 * What the query jobs ask of a storage engine (SQLite's QueryService,
 * ClickHouse's ClickHouseQueries): pages of stored flows, aggregates and flow
 * classes, under the same filter model. The faces never see an engine; they
 * run jobs through a QueryPool.
 */

export interface FlowsRequest {
  filters: FilterSet;
  since: FlowTime;
  until: FlowTime;
  order: 'asc' | 'desc';
  limit: number;
  after: FlowPosition | null;
}

export interface AggregateRequest {
  filters: FilterSet;
  dims: GroupDimension[];
  since: FlowTime;
  until: FlowTime;
  bucketMinutes: number | null;
  top: number;
}

/** Flows of a range grouped into classes a policy judges alike (policy replay). */
export interface FlowClassesRequest {
  filters: FilterSet;
  since: FlowTime;
  until: FlowTime;
  /** Keep HTTP headers in the class (when a rule matches on them) */
  withHeaders: boolean;
  maxClasses: number;
  /** Longest the scan may take: replay reads far more than one page */
  budgetMs: number;
}

/** One stored flow as a page reads it, whichever engine stored it. */
export interface StoredFlow {
  readonly seconds: number;
  readonly nanos: number;
  /** The flow as a record (built on demand where the engine stores something else). */
  record(): FlowRecord;
  /** Writes its GetFlowsResponse: the flow as the relay sent it, with node_name and time. */
  writeResponse(w: WireWriter): void;
  /** Its flowKey (the live stream's hand-over compares them). */
  key(): string;
}

/** What a page makes of each flow; a flow it throws on is skipped (one unreadable row never fails its page). */
export type FlowRead<T> = (flow: StoredFlow) => T;

export interface EnginePage<T> {
  flows: T[];
  /** Where the next page goes on; null when the range is done. */
  next: FlowPosition | null;
  /** True when the scan stopped at the query budget before finding `limit` flows. */
  truncated: boolean;
}

export type AggregateAnswer = AggregateResult & { since: string; until: string };

type MaybeAsync<T> = T | Promise<T>;

export interface QueryEngine {
  /** A page of flows; `cancelFlag` (set by a QueryPool when the client goes away) stops it early. */
  readFlows<T>(req: FlowsRequest, read: FlowRead<T>, cancelFlag: Int32Array | null): MaybeAsync<EnginePage<T>>;
  aggregate(req: AggregateRequest, cancelFlag: Int32Array | null): MaybeAsync<AggregateAnswer>;
  flowClasses(req: FlowClassesRequest, cancelFlag: Int32Array | null): MaybeAsync<FlowClasses>;
}

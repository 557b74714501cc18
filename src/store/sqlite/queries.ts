import type { FlowRecord } from '../../flows/record.js';
import { FlowkeeperError } from '../../errors.js';
import { QueryGate } from '../../query/gate.js';
import { decidedByClass } from '../../query/class-filter.js';
import { Deadline } from '../../query/deadline.js';
import { answersFromRollups, runAggregate, StoreAggregateLabels } from './aggregate.js';
import type { AggregateResult } from './aggregate.js';
import { StoreDictionaryIndex } from './dictionary-index.js';
import { runFlowQuery } from './flow-query.js';
import type { FlowPage, RowReader } from './flow-query.js';
import type { FlowReader } from './reader.js';
import { scanFlowClasses } from './flow-classes.js';
import type { FlowClasses } from '../flow-classes.js';
import type { Db } from './sqlite.js';
import type { AggregateAnswer, AggregateRequest, EnginePage, FlowClassesRequest, FlowRead, FlowsRequest, QueryEngine } from '../../query/engine.js';
import { isRowPosition } from '../../query/position.js';
import type { FlowPosition, RowPosition } from '../../query/position.js';
import { RowFlow } from './row-flow.js';
import { aggregateAnswer, checkRawRange, wholeMinutes } from '../../query/accumulator.js';
import { DEFAULT_QUERY_LIMITS } from '../../query/limits.js';
import type { QueryLimits } from '../../query/limits.js';

/**
 * The SQLite side of the query engine (query/engine.ts): filters → SQL plans →
 * the store, synchronously on one read connection. The faces reach it through a QueryPool (query workers each
 * run one) or, for the Observer's history streams, directly on the main thread.
 */
export class QueryService implements QueryEngine {
  readonly index: StoreDictionaryIndex;
  /** Admission control where queries share the event loop with ingest (null in a query worker). */
  readonly gate: QueryGate | null;
  private readonly labels: StoreAggregateLabels;

  constructor(
    private readonly db: Db,
    private readonly reader: FlowReader,
    /** Longest one query may scan. */
    private readonly budgetMs: number,
    private readonly limits: QueryLimits = DEFAULT_QUERY_LIMITS,
    options: { onEventLoop: boolean } = { onEventLoop: true },
  ) {
    this.index = new StoreDictionaryIndex(db);
    this.gate = options.onEventLoop ? new QueryGate(budgetMs) : null;
    this.labels = new StoreAggregateLabels(db, reader.dict);
  }

  private run<T>(query: () => T): T {
    return this.gate ? this.gate.run(query) : query();
  }

  /**
   * A page of flows: FlowRecords, or what `read` makes of each stored row (the
   * Observer face writes wire bytes). `cancelFlag` (set by a QueryPool) stops the scan early.
   */
  flows(req: FlowsRequest, read?: undefined, cancelFlag?: Int32Array | null): FlowPage;
  flows<T>(req: FlowsRequest, read: RowReader<T>, cancelFlag?: Int32Array | null): FlowPage<T>;
  flows<T>(req: FlowsRequest, read?: RowReader<T>, cancelFlag: Int32Array | null = null): FlowPage<T | FlowRecord> {
    return this.run(() => this.runFlows(req, read, cancelFlag));
  }

  readFlows<T>(req: FlowsRequest, read: FlowRead<T>, cancelFlag: Int32Array | null): EnginePage<T> {
    return this.flows(req, (row, dict, record) => read(new RowFlow(row, dict, record)), cancelFlag);
  }

  aggregate(req: AggregateRequest, cancelFlag: Int32Array | null = null): AggregateAnswer {
    return this.run(() => this.runAggregate(req, cancelFlag));
  }

  flowClasses(req: FlowClassesRequest, cancelFlag: Int32Array | null = null): FlowClasses {
    return this.run(() => {
      const { where, exact } = req.filters.sql(this.index);
      return scanFlowClasses(this.db, this.reader.dict, {
        where,
        recheck: exact ? null : (f: FlowRecord) => req.filters.match(f),
        classWhere: exact && !req.withHeaders && decidedByClass(req.filters) ? where : null,
        since: req.since,
        until: req.until,
        withHeaders: req.withHeaders,
        maxClasses: req.maxClasses,
        deadline: Deadline.in(req.budgetMs, cancelFlag),
      });
    });
  }

  private runFlows<T>(req: FlowsRequest, read: RowReader<T> | undefined, cancelFlag: Int32Array | null): FlowPage<T> {
    const { where, exact } = req.filters.sql(this.index);
    const after = rowPosition(req.after);
    return runFlowQuery<T>(this.db, this.reader.dict, {
      read,
      where,
      recheck: exact ? null : (f: FlowRecord) => req.filters.match(f),
      since: req.since,
      until: req.until,
      order: req.order,
      limit: req.limit,
      after,
      deadline: Deadline.in(this.budgetMs, cancelFlag),
    });
  }

  private runAggregate(req: AggregateRequest, cancelFlag: Int32Array | null): AggregateResult & { since: string; until: string } {
    if (!answersFromRollups(req.dims, req.filters)) checkRawRange(req, this.limits.rawMaxRangeSeconds);
    const { sinceMinute, untilMinute } = wholeMinutes(req);
    const result = runAggregate(this.db, this.reader.dict, this.labels, this.index, {
      dims: req.dims,
      filters: req.filters,
      sinceMinute,
      untilMinute,
      bucketMinutes: req.bucketMinutes,
      top: req.top,
      deadline: Deadline.in(this.budgetMs, cancelFlag),
      maxEntries: this.limits.maxEntries,
    });
    return aggregateAnswer(result, { sinceMinute, untilMinute }, this.limits.maxPoints);
  }
}

/** A page's starting position on SQLite; a ClickHouse position (a cursor from a flowkeeper on ClickHouse) is refused. */
function rowPosition(p: FlowPosition | null): RowPosition | null {
  if (p === null || isRowPosition(p)) return p;
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', 'cursor: was issued by a flowkeeper storing flows in ClickHouse; this one stores them in SQLite (start again without cursor)', 'cursor');
}

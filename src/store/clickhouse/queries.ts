import { FlowkeeperError } from '../../errors.js';
import type { FlowRecord } from '../../flows/record.js';
import { flowKey } from '../../flows/record.js';
import type { WireWriter } from '../../flows/wire-writer.js';
import { Deadline } from '../../query/deadline.js';
import type { AggregateAnswer, AggregateRequest, EnginePage, FlowClassesRequest, FlowRead, FlowsRequest, QueryEngine, StoredFlow } from '../../query/engine.js';
import { aggregateAnswer, checkRawRange, wholeMinutes } from '../../query/accumulator.js';
import { rollupCondition } from '../../query/aggregate.js';
import { DEFAULT_QUERY_LIMITS } from '../../query/limits.js';
import type { QueryLimits } from '../../query/limits.js';
import { CLICKHOUSE_ROLLUPS, aggregateClickHouse } from './aggregate.js';
import { clickhouseFlowClasses } from './flow-classes.js';
import { isRowPosition } from '../../query/position.js';
import { fromNanos } from '../../query/time.js';
import type { ClickHousePosition, FlowPosition } from '../../query/position.js';
import type { FlowClasses } from '../flow-classes.js';
import type { ClickHouseHttp } from './http.js';
import { queryClickHouseFlows } from './flows.js';
import type { RawFlow } from './flows.js';

/** A flow stored in ClickHouse: its GetFlowsResponse as the relay sent it, and the record decoded from it. */
class ResponseFlow implements StoredFlow {
  readonly seconds: number;
  readonly nanos: number;

  constructor(private readonly flow: RawFlow) {
    ({ seconds: this.seconds, nanos: this.nanos } = fromNanos(flow.timeNs));
  }

  record(): FlowRecord {
    return this.flow.record();
  }

  writeResponse(w: WireWriter): void {
    w.raw(this.flow.response);
  }

  key(): string {
    return flowKey(this.flow.record());
  }
}

/**
 * The query engine on ClickHouse: pages of flows in both orders with any
 * filter (ClickHouse narrows, FilterSet.match judges), aggregates from the
 * rollups ClickHouse keeps (or from raw flows when the filter needs them), and
 * flow classes for policy replay (grouped as the flows are read).
 */
export class ClickHouseQueries implements QueryEngine {
  constructor(
    private readonly ch: ClickHouseHttp,
    private readonly budgetMs: number,
    private readonly limits: QueryLimits = DEFAULT_QUERY_LIMITS,
  ) {}

  async readFlows<T>(req: FlowsRequest, read: FlowRead<T>, cancelFlag: Int32Array | null): Promise<EnginePage<T>> {
    const page = await queryClickHouseFlows(this.ch, {
      filters: req.filters, since: req.since, until: req.until, order: req.order, limit: req.limit,
      after: clickhousePosition(req.after),
      deadline: Deadline.in(this.budgetMs, cancelFlag),
      read: (flow) => read(new ResponseFlow(flow)),
    });
    return { flows: page.flows, next: page.next, truncated: page.truncated };
  }

  async aggregate(req: AggregateRequest, cancelFlag: Int32Array | null): Promise<AggregateAnswer> {
    if (rollupCondition(req.filters, CLICKHOUSE_ROLLUPS) === null) checkRawRange(req, this.limits.rawMaxRangeSeconds);
    const minutes = wholeMinutes(req);
    const result = await aggregateClickHouse(this.ch, {
      dims: req.dims, filters: req.filters, ...minutes, bucketMinutes: req.bucketMinutes, top: req.top,
      maxEntries: this.limits.maxEntries, deadline: Deadline.in(this.budgetMs, cancelFlag),
    });
    return aggregateAnswer(result, minutes, this.limits.maxPoints);
  }

  flowClasses(req: FlowClassesRequest, cancelFlag: Int32Array | null): Promise<FlowClasses> {
    return clickhouseFlowClasses(this.ch, req, cancelFlag);
  }
}

/** A page's starting position on ClickHouse; a SQLite position (a cursor from a flowkeeper on SQLite) is refused. */
function clickhousePosition(p: FlowPosition | null): ClickHousePosition | null {
  if (p === null || !isRowPosition(p)) return p;
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', 'cursor: was issued by a flowkeeper storing flows in SQLite; this one stores them in ClickHouse (start again without cursor)', 'cursor');
}

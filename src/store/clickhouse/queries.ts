import { FlowkeeperError } from '../../errors.js';
import type { FlowRecord } from '../../flows/record.js';
import { flowKey } from '../../flows/record.js';
import type { WireWriter } from '../../flows/wire-writer.js';
import { Deadline } from '../../query/deadline.js';
import type { AggregateAnswer, EnginePage, FlowRead, FlowsRequest, QueryEngine, StoredFlow } from '../../query/engine.js';
import { isRowPosition } from '../../query/position.js';
import { fromNanos } from '../../query/time.js';
import type { ClickHousePosition, FlowPosition } from '../../query/position.js';
import type { FlowClasses } from '../flow-classes.js';
import type { ClickHouseHttp } from './http.js';
import { queryClickHouseFlows } from './flows.js';

/** A flow stored in ClickHouse: its GetFlowsResponse as the relay sent it, and the record decoded from it. */
class ResponseFlow implements StoredFlow {
  readonly seconds: number;
  readonly nanos: number;

  constructor(
    private readonly flow: FlowRecord,
    private readonly response: Buffer,
    timeNs: bigint,
  ) {
    ({ seconds: this.seconds, nanos: this.nanos } = fromNanos(timeNs));
  }

  record(): FlowRecord {
    return this.flow;
  }

  writeResponse(w: WireWriter): void {
    w.raw(this.response);
  }

  key(): string {
    return flowKey(this.flow);
  }
}

/**
 * The query engine on ClickHouse: pages of flows in both orders with any
 * filter (ClickHouse narrows, FilterSet.match judges). Aggregates and policy
 * replay need the rollups and flow classes this engine does not have yet, and
 * say so instead of scanning raw flows.
 */
export class ClickHouseQueries implements QueryEngine {
  constructor(
    private readonly ch: ClickHouseHttp,
    private readonly budgetMs: number,
  ) {}

  async readFlows<T>(req: FlowsRequest, read: FlowRead<T>, cancelFlag: Int32Array | null): Promise<EnginePage<T>> {
    const page = await queryClickHouseFlows(this.ch, {
      filters: req.filters, since: req.since, until: req.until, order: req.order, limit: req.limit,
      after: clickhousePosition(req.after),
      deadline: Deadline.in(this.budgetMs, cancelFlag),
      read: (record, response, timeNs) => read(new ResponseFlow(record, response, timeNs)),
    });
    return { flows: page.flows, next: page.next, truncated: page.truncated };
  }

  aggregate(): Promise<AggregateAnswer> {
    return Promise.reject(notYet('aggregates'));
  }

  flowClasses(): Promise<FlowClasses> {
    return Promise.reject(notYet('policy replay and suggestions'));
  }
}

function notYet(what: string): FlowkeeperError {
  return new FlowkeeperError('FLOWKEEPER_ERR_NOT_SUPPORTED', `${what} are not answered on the ClickHouse store yet (they need its rollups, a later release); flow queries, the live stream and the Observer API are. Run with --store sqlite for them`);
}

/** A page's starting position on ClickHouse; a SQLite position (a cursor from a flowkeeper on SQLite) is refused. */
function clickhousePosition(p: FlowPosition | null): ClickHousePosition | null {
  if (p === null || !isRowPosition(p)) return p;
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', 'cursor: was issued by a flowkeeper storing flows in SQLite; this one stores them in ClickHouse (start again without cursor)', 'cursor');
}

import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../../config/units.js';
import { FlowkeeperError } from '../../errors.js';
import { parseGroupBy } from '../../query/aggregate.js';
import { FilterSet } from '../../query/filter.js';
import type { QueryParams, RangeLimit } from '../params.js';
import { filtersFromParams, normalizeQuery, parseRange, rejectUnknown, single } from '../params.js';
import type { QueryPool } from '../../query/pool.js';
import { clientGone } from '../client-gone.js';
import type { AggregateAnswer } from '../../query/jobs.js';
import { errorSchema, filterQueryProperties, timeProperties } from './schemas.js';

export const MAX_TOP = 1000;
const AGG_PARAMETERS = ['since', 'until', 'group_by', 'bucket', 'top'];

export function parseBucket(text: string | undefined): number | null {
  if (text === undefined) return null;
  let seconds: number;
  try {
    seconds = parseDuration(text);
  } catch {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `bucket: "${text}" is not a duration like 1m, 5m, 1h`, 'bucket');
  }
  if (seconds < 60 || seconds % 60 !== 0) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', 'bucket: must be whole minutes (1m or more)', 'bucket');
  return seconds / 60;
}

export function parseTop(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_TOP) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `top: must be an integer from 1 to ${MAX_TOP}`, 'top');
  return n;
}

/** Runs an aggregate from query parameters, with extra filters ANDed into every whitelist filter. */
export function aggregateFromParams(
  queries: QueryPool, params: QueryParams, range: RangeLimit, groupBy: string,
  extra: Record<string, unknown> = {}, topDefault = 20, exclude: Record<string, unknown>[] = [], signal?: AbortSignal,
): Promise<AggregateAnswer> {
  const base = filtersFromParams(params);
  const filters = Object.keys(extra).length === 0 && exclude.length === 0
    ? base
    : FilterSet.parse({
        whitelist: (base.whitelist.length ? base.whitelist.map((f) => ({ ...f.fields })) : [{}]).map((f) => ({ ...f, ...extra })),
        blacklist: [...base.blacklist.map((f) => ({ ...f.fields })), ...exclude],
      });
  return queries.aggregate({
    filters,
    dims: parseGroupBy(groupBy),
    ...parseRange(single(params, 'since'), single(params, 'until'), range),
    bucketMinutes: parseBucket(single(params, 'bucket')),
    top: parseTop(single(params, 'top'), topDefault),
  }, signal);
}

export function registerAggregateRoutes(app: FastifyInstance, queries: QueryPool, range: RangeLimit): void {
  app.get('/api/v1/aggregate', {
    schema: {
      summary: 'Flow counts per group, optionally per time bucket, top-N plus an "other" row',
      description: 'Answered from 1-minute rollups when the group_by dimensions and filters allow it (response "source": "rollup"), from raw flows otherwise; both cover whole minutes.',
      querystring: {
        type: 'object',
        additionalProperties: true,
        properties: {
          group_by: { type: 'string', description: 'comma list: verdict, drop_reason, traffic_direction, type, cluster, source_namespace, destination_namespace, source_workload, destination_workload, destination_port, protocol, policy, node, source_label:KEY, destination_label:KEY' },
          bucket: { type: 'string', description: 'time-series bucket, e.g. 1m, 5m, 1h' },
          top: { type: 'string', description: 'groups to return before the "other" row (default 20)' },
          ...timeProperties,
          ...filterQueryProperties(),
        },
      },
      response: { 400: errorSchema, 401: errorSchema },
    },
  }, async (req, reply) => {
    const params = normalizeQuery(req.query);
    rejectUnknown(params, AGG_PARAMETERS);
    return aggregateFromParams(queries, params, range, single(params, 'group_by') ?? '', {}, 20, [], clientGone(reply));
  });
}

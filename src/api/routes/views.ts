import type { FastifyInstance } from 'fastify';
import { Enums } from '../../query/enums.js';
import { normalizeQuery, rejectUnknown } from '../params.js';
import type { RangeLimit } from '../params.js';
import type { QueryPool } from '../../query/pool.js';
import { clientGone } from '../client-gone.js';
import { aggregateFromParams } from './aggregate.js';
import { POLICY_DENIED_REASONS, POLICY_VERDICT_EVENT } from '../../flows/denial.js';
import { errorSchema, filterQueryProperties, timeProperties } from './schemas.js';

const VIEW_PARAMETERS = ['since', 'until', 'bucket', 'top'];
const DROPPED = Enums.Verdict.values.DROPPED;

const viewQuery = {
  type: 'object',
  additionalProperties: true,
  properties: {
    bucket: { type: 'string', description: 'time-series bucket (default 5m)' },
    top: { type: 'string', description: 'rows per table before "other" (default 10)' },
    ...timeProperties,
    ...filterQueryProperties(),
  },
};

/** A view: a time series grouped by `seriesBy`, plus tables (name → [group_by, top]), all under `filter`. */
async function view(
  queries: QueryPool, query: unknown, range: RangeLimit, filter: Record<string, unknown>, seriesBy: string,
  tables: Record<string, [string, number]>, exclude: Record<string, unknown>[], signal: AbortSignal,
): Promise<Record<string, unknown>> {
  const params = normalizeQuery(query);
  rejectUnknown(params, VIEW_PARAMETERS);
  const noBucket = { ...params };
  delete noBucket.bucket;
  // The series and the tables run side by side (in query workers when there are several).
  const [series, ...tableAnswers] = await Promise.all([
    aggregateFromParams(queries, { ...params, bucket: params.bucket ?? ['5m'] }, range, seriesBy, filter, 10, exclude, signal),
    ...Object.values(tables).map(([groupBy, top]) => aggregateFromParams(queries, noBucket, range, groupBy, filter, top, exclude, signal)),
  ]);
  const out: Record<string, unknown> = { since: series.since, until: series.until, total: series.total };
  Object.keys(tables).forEach((name, i) => (out[name] = tableAnswers[i].groups));
  out.series = series.series;
  return out;
}

/** The two questions SREs ask most, as ready-made views over the aggregate engine. */
export function registerViewRoutes(app: FastifyInstance, queries: QueryPool, range: RangeLimit): void {
  // Drops: DROPPED flows except policy-verdict events (each policy drop also has its drop event): one count per dropped packet.
  const dropped = { verdict: [DROPPED] };
  const notVerdictEvents = [{ event_type: [{ type: POLICY_VERDICT_EVENT }] }];
  const denied = { verdict: [DROPPED], drop_reason_desc: [...POLICY_DENIED_REASONS], event_type: [{ type: POLICY_VERDICT_EVENT }] };
  app.get('/api/v1/drops', {
    schema: { summary: 'Dropped packets (drop events; the policy-verdict events beside policy drops are not counted again): top drop reasons, top dropped workload pairs, and a time series', querystring: viewQuery, response: { 400: errorSchema, 401: errorSchema } },
  }, async (req, reply) => view(queries, req.query, range, dropped, 'drop_reason', {
    reasons: ['drop_reason', 10],
    pairs: ['source_workload,destination_workload,drop_reason', 10],
  }, notVerdictEvents, clientGone(reply)));

  app.get('/api/v1/policy-denials', {
    schema: {
      summary: 'Policy-denied flows by denying policy, direction and workload pair',
      description: 'Policy-verdict events (type 5) that dropped a flow with reason POLICY_DENIED or POLICY_DENY (the drop event Cilium emits beside each is not counted again). Denials that name no policy (nothing allowed the flow) are reported as policy "default-deny".',
      querystring: viewQuery,
      response: { 400: errorSchema, 401: errorSchema },
    },
  }, async (req, reply) => view(queries, req.query, range, denied, 'policy', {
    policies: ['policy,traffic_direction', 10],
    pairs: ['policy,traffic_direction,source_workload,destination_workload', 20],
  }, [], clientGone(reply)));
}

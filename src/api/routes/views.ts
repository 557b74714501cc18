import type { FastifyInstance } from 'fastify';
import { Enums } from '../../query/enums.js';
import { normalizeQuery, rejectUnknown } from '../params.js';
import type { QueryService } from '../query-service.js';
import { aggregateFromParams } from './aggregate.js';
import { POLICY_VERDICT_EVENT } from '../../query/aggregate.js';
import { errorSchema, filterQueryProperties, timeProperties } from './schemas.js';

const VIEW_PARAMETERS = ['since', 'until', 'bucket', 'top', 'access_token'];
const DROPPED = Enums.Verdict.values.DROPPED;
const POLICY_REASONS = [Enums.DropReason.values.POLICY_DENIED, Enums.DropReason.values.POLICY_DENY];

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

/** The two questions SREs ask most, as ready-made views over the aggregate engine. */
export function registerViewRoutes(app: FastifyInstance, queries: QueryService, maxRangeSeconds: number): void {
  app.get('/api/v1/drops', {
    schema: { summary: 'Dropped flows: top drop reasons, top dropped workload pairs, and a time series', querystring: viewQuery, response: { 400: errorSchema, 401: errorSchema } },
  }, async (req) => {
    const params = normalizeQuery(req.query);
    rejectUnknown(params, VIEW_PARAMETERS);
    params.bucket ??= ['5m'];
    const dropped = { verdict: [DROPPED] };
    const series = aggregateFromParams(queries, params, maxRangeSeconds, 'drop_reason', dropped, 10);
    const noBucket = { ...params };
    delete noBucket.bucket;
    return {
      since: series.since,
      until: series.until,
      total: series.total,
      reasons: aggregateFromParams(queries, noBucket, maxRangeSeconds, 'drop_reason', dropped, 10).groups,
      pairs: aggregateFromParams(queries, noBucket, maxRangeSeconds, 'source_workload,destination_workload,drop_reason', dropped, 10).groups,
      series: series.series,
    };
  });

  app.get('/api/v1/policy-denials', {
    schema: {
      summary: 'Policy-denied flows by denying policy, direction and workload pair',
      description: 'Policy-verdict events (type 5) that dropped a flow with reason POLICY_DENIED or POLICY_DENY (the drop event Cilium emits beside each is not counted again). Denials that name no policy (nothing allowed the flow) are reported as policy "default-deny".',
      querystring: viewQuery,
      response: { 400: errorSchema, 401: errorSchema },
    },
  }, async (req) => {
    const params = normalizeQuery(req.query);
    rejectUnknown(params, VIEW_PARAMETERS);
    params.bucket ??= ['5m'];
    const denied = { verdict: [DROPPED], drop_reason_desc: POLICY_REASONS, event_type: [{ type: POLICY_VERDICT_EVENT }] };
    const series = aggregateFromParams(queries, params, maxRangeSeconds, 'policy', denied, 10);
    const noBucket = { ...params };
    delete noBucket.bucket;
    return {
      since: series.since,
      until: series.until,
      total: series.total,
      policies: aggregateFromParams(queries, noBucket, maxRangeSeconds, 'policy,traffic_direction', denied, 10).groups,
      pairs: aggregateFromParams(queries, noBucket, maxRangeSeconds, 'policy,traffic_direction,source_workload,destination_workload', denied, 20).groups,
      series: series.series,
    };
  });
}

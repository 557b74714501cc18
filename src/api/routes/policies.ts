import type { FastifyInstance } from 'fastify';
import { FlowkeeperError } from '../../errors.js';
import type { QueryPool } from '../../query/pool.js';
import { replayPolicies, suggestFromHistory } from '../../policy/run.js';
import type { QueryParams, RangeLimit } from '../params.js';
import { filtersFromParams, normalizeQuery, parseRange, rejectUnknown, single } from '../params.js';
import { clientGone } from '../client-gone.js';
import { parseTop } from './aggregate.js';
import { errorSchema, filterQueryProperties, timeProperties } from './schemas.js';

/** Policy documents may be large (a cluster's whole set); the rest of the API keeps the small limit. */
export const POLICY_BODY_LIMIT_BYTES = 4 * 1024 * 1024;
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml', 'text/plain'];
const REPLAY_PARAMETERS = ['since', 'until', 'top'];
/** Suggest reads the whole namespace: other filters would leave traffic out of the policies and make them deny it. */
const SUGGEST_PARAMETERS = ['namespace', 'workload', 'since', 'until', 'top'];
const WORKLOAD_NAME = /^[a-zA-Z0-9][-a-zA-Z0-9_.]{0,252}$/;
/** Default groups listed per section of the report. */
const DEFAULT_TOP = 50;

interface ReplayBody {
  policies: string;
  in_force?: string;
}

function readBody(body: unknown): ReplayBody {
  if (typeof body === 'string') return { policies: body };
  if (typeof body === 'object' && body !== null && typeof (body as ReplayBody).policies === 'string') {
    const b = body as ReplayBody;
    if (b.in_force !== undefined && typeof b.in_force !== 'string') throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', 'in_force: must be YAML text', 'in_force');
    return b;
  }
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_REQUEST', 'send the proposed policies as a YAML body (Content-Type: application/yaml), or as JSON {"policies": "<yaml>", "in_force": "<yaml>"}');
}

export function registerPolicyRoutes(app: FastifyInstance, queries: QueryPool, range: RangeLimit): void {
  // The parser keeps the server's body limit; only the replay route raises its own.
  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.post('/api/v1/policies/replay', {
    bodyLimit: POLICY_BODY_LIMIT_BYTES,
    schema: {
      summary: 'Replay stored flows against proposed network policies: what would newly be denied or allowed',
      description: 'Body: CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy / NetworkPolicy YAML (multi-document or kind: List), '
        + 'or JSON {"policies": "<yaml>", "in_force": "<yaml>"}: with in_force, the proposed policies are added to those, replacing any of the same kind, namespace and name. '
        + 'Flows of the range and filters are grouped into classes judged alike, and each class is evaluated once.',
      querystring: {
        type: 'object',
        additionalProperties: true,
        properties: {
          top: { type: 'string', description: `groups listed per section (default ${DEFAULT_TOP})` },
          ...timeProperties,
          ...filterQueryProperties(),
        },
      },
      response: { 400: errorSchema, 401: errorSchema },
    },
  }, async (req, reply) => {
    const params: QueryParams = normalizeQuery(req.query);
    rejectUnknown(params, REPLAY_PARAMETERS);
    const body = readBody(req.body);
    return replayPolicies(queries, {
      proposed: body.policies,
      inForce: body.in_force ?? null,
      filters: filtersFromParams(params),
      ...parseRange(single(params, 'since'), single(params, 'until'), range),
      top: parseTop(single(params, 'top'), DEFAULT_TOP),
    }, clientGone(reply));
  });

  app.get('/api/v1/policies/suggest', {
    schema: {
      summary: 'Least-privilege CiliumNetworkPolicies for a namespace\'s workloads, from the traffic allowed in a range, proved by replaying that traffic',
      description: 'One CiliumNetworkPolicy per workload of the namespace, allowing the peers, ports and L7 requests (HTTP at the server, DNS at egress) that were allowed in the range and nothing else. '
        + 'The flows of the range are then replayed against the suggestion: proven is true when nothing that was allowed would be denied.',
      querystring: {
        type: 'object',
        additionalProperties: true,
        properties: {
          namespace: { type: 'string', description: 'the namespace whose workloads get policies (required)' },
          workload: { type: 'string', description: 'only this workload (repeatable; default every workload seen)' },
          top: { type: 'string', description: `groups listed per section of the proof (default ${DEFAULT_TOP})` },
          ...timeProperties,
        },
      },
      response: { 400: errorSchema, 401: errorSchema },
    },
  }, async (req, reply) => {
    const params: QueryParams = normalizeQuery(req.query);
    for (const name of Object.keys(params)) {
      if (!SUGGEST_PARAMETERS.includes(name)) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `${name}: not a parameter of suggest (it takes ${SUGGEST_PARAMETERS.join(', ')}: policies are drawn from all of a namespace's traffic)`, name);
    }
    const namespace = single(params, 'namespace');
    if (!namespace) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', 'namespace: required (the namespace whose workloads get policies)', 'namespace');
    const workloads = params.workload ?? null;
    for (const w of workloads ?? []) {
      if (!WORKLOAD_NAME.test(w)) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `workload: ${JSON.stringify(w.slice(0, 64))} is not a workload name`, 'workload');
    }
    return suggestFromHistory(queries, {
      namespace,
      namespaceFilter: filtersFromParams({ namespace: [namespace] }),
      workloads,
      ...parseRange(single(params, 'since'), single(params, 'until'), range),
      top: parseTop(single(params, 'top'), DEFAULT_TOP),
    }, clientGone(reply));
  });
}

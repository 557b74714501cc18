import type { FastifyInstance, FastifyReply } from 'fastify';
import { FlowkeeperError } from '../../errors.js';
import { FilterSet } from '../../query/filter.js';
import type { QueryPool } from '../../query/pool.js';
import type { FlowsAnswer } from '../../query/jobs.js';
import {
  DEFAULT_LIMIT, encodeCursor, filtersFromParams, normalizeQuery, parseLimit, parsePage, rejectUnknown, single,
} from '../params.js';
import type { PageRange } from '../params.js';
import { clientGone } from '../client-gone.js';
import { errorSchema, filterQueryProperties, flowFilterListSchema, timeProperties } from './schemas.js';

const PAGE_PARAMETERS = ['since', 'until', 'limit', 'order', 'cursor', 'format', 'clamp'];

function send(reply: FastifyReply, page: FlowsAnswer, format: string, range: PageRange, filters: FilterSet): FastifyReply {
  const cursor = page.next ? encodeCursor(page.next, range, filters) : null;
  if (format === 'summary') {
    // The flows arrive as JSON text from the query thread; only the envelope is written here.
    const tail = JSON.stringify({ next_cursor: cursor, truncated: page.truncated, ...(range.clamped ? { range_clamped: true } : {}) });
    const flows = page.summaries!;
    reply.type('application/json; charset=utf-8');
    return reply.send(Buffer.concat([Buffer.from('{"flows":'), flows, Buffer.from(`,${tail.slice(1)}`)]));
  }
  if (cursor) reply.header('x-next-cursor', cursor);
  if (range.clamped) reply.header('x-flowkeeper-range-clamped', 'true');
  // Fewer than `limit` flows but a cursor: the scan hit --query-budget; follow the cursor for more.
  if (page.truncated) reply.header('x-flowkeeper-truncated', 'true');
  reply.type('application/x-ndjson');
  const ndjson = page.ndjson!;
  return reply.send(Buffer.from(ndjson.buffer, ndjson.byteOffset, ndjson.byteLength));
}

function parseFormat(text: string | undefined): 'ndjson' | 'summary' {
  if (text === undefined || text === 'jsonpb' || text === 'ndjson') return 'ndjson';
  if (text === 'summary') return 'summary';
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', 'format: must be jsonpb (NDJSON, the default) or summary', 'format');
}

const pageQuery = {
  ...timeProperties,
  limit: { type: 'string', description: `flows per page, 1–10000 (default ${DEFAULT_LIMIT})` },
  order: { type: 'string', enum: ['asc', 'desc'], description: 'desc (newest first, default) or asc' },
  cursor: { type: 'string', description: 'x-next-cursor / next_cursor of the previous page' },
  format: { type: 'string', enum: ['jsonpb', 'ndjson', 'summary'], description: 'jsonpb: NDJSON lines like hubble observe -o jsonpb (default); summary: compact JSON for UIs' },
  clamp: { type: 'string', enum: ['true', 'false'], description: 'true: a range longer than --query-max-range is cut to its newest (desc) or oldest (asc) part instead of refused (x-flowkeeper-range-clamped)' },
};

export function registerFlowRoutes(app: FastifyInstance, queries: QueryPool, maxRangeSeconds: number): void {
  app.get('/api/v1/flows', {
    schema: {
      summary: 'Stored flows matching hubble-observe-like filters',
      description: 'Direction-less filters (namespace, pod, ip, label, ...) match either side, as hubble observe does. Repeat a parameter to OR its values.',
      querystring: { type: 'object', additionalProperties: true, properties: { ...pageQuery, ...filterQueryProperties() } },
      response: { 400: errorSchema, 401: errorSchema },
    },
  }, async (req, reply) => {
    const params = normalizeQuery(req.query);
    rejectUnknown(params, PAGE_PARAMETERS);
    const filters = filtersFromParams(params);
    const format = parseFormat(single(params, 'format'));
    const clamp = single(params, 'clamp');
    if (clamp !== undefined && clamp !== 'true' && clamp !== 'false') throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', 'clamp: must be true or false', 'clamp');
    const range = parsePage({ since: single(params, 'since'), until: single(params, 'until'), order: single(params, 'order'), cursor: single(params, 'cursor'), clamp: clamp === 'true' }, filters, maxRangeSeconds);
    const page = await queries.flows({ filters, ...range, limit: parseLimit(single(params, 'limit')) }, format, clientGone(reply));
    return send(reply, page, format, range, filters);
  });

  app.post('/api/v1/flows/query', {
    schema: {
      summary: 'Stored flows matching Hubble FlowFilters (whitelist minus blacklist)',
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          whitelist: flowFilterListSchema,
          blacklist: flowFilterListSchema,
          since: { type: 'string' },
          until: { type: 'string' },
          limit: { type: 'integer', minimum: 1, maximum: 10_000 },
          order: { type: 'string', enum: ['asc', 'desc'] },
          cursor: { type: 'string' },
          format: { type: 'string', enum: ['jsonpb', 'ndjson', 'summary'] },
          clamp: { type: 'boolean' },
        },
      },
      response: { 400: errorSchema, 401: errorSchema },
    },
  }, async (req, reply) => {
    const body = req.body as { whitelist?: unknown; blacklist?: unknown; since?: string; until?: string; limit?: number; order?: 'asc' | 'desc'; cursor?: string; format?: string; clamp?: boolean };
    const filters = FilterSet.parse(body);
    const range = parsePage(body, filters, maxRangeSeconds);
    const format = parseFormat(body.format);
    const page = await queries.flows({ filters, ...range, limit: parseLimit(body.limit === undefined ? undefined : String(body.limit)) }, format, clientGone(reply));
    return send(reply, page, format, range, filters);
  });
}

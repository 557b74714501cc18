import type {} from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FlowkeeperError, echo } from '../../errors.js';
import { FilterSet } from '../../query/filter.js';
import type { LiveHub } from '../../live/hub.js';
import { WsSubscriber } from '../../live/ws-subscriber.js';
import { filtersFromParams, normalizeQuery, parseLimit, rejectUnknown, single } from '../params.js';
import { parseTime } from '../../query/time.js';
import type { QueryPool } from '../../query/pool.js';
import { lastStart } from '../../query/last-start.js';
import type { FlowPosition } from '../../query/position.js';
import { stepPosition } from '../../query/position.js';
import { filterQueryProperties } from './schemas.js';

const HEARTBEAT_MS = 15_000;
const MAX_BACKFILL = 10_000;
/** Stored flows read and sent at a time: a backfill holds one page, and the client's pace decides when the next is read. */
const BACKFILL_PAGE = 1000;
const STREAM_PARAMETERS = ['since', 'last', 'filters', 'access_token'];

interface StreamSetup {
  filters: FilterSet;
  since: string | undefined;
  last: number | undefined;
}

function parseSetup(req: FastifyRequest): StreamSetup {
  const params = normalizeQuery(req.query);
  rejectUnknown(params, STREAM_PARAMETERS);
  const raw = single(params, 'filters');
  let filters: FilterSet;
  if (raw !== undefined) {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_FILTER', 'filters: not JSON ({"whitelist":[...],"blacklist":[...]})', 'filters');
    }
    filters = FilterSet.parse(body as { whitelist?: unknown; blacklist?: unknown });
  } else {
    filters = filtersFromParams(params);
  }
  const since = single(params, 'since');
  const lastText = single(params, 'last');
  if (since !== undefined && lastText !== undefined) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', 'last: give since or last, not both', 'last');
  if (since !== undefined) parseTime(since, 'since');
  const last = lastText === undefined ? undefined : parseLimit(lastText);
  return { filters, since, last };
}

/**
 * The stored flows a stream starts with, oldest first, page by page: the
 * newest `last`, or the flows since `since` up to the newest MAX_BACKFILL (so
 * the backfill joins the live flows without a gap). Returns whether `since`
 * matched more, older flows that were left out.
 */
async function backfill(queries: QueryPool, setup: StreamSetup, sub: WsSubscriber, signal: AbortSignal): Promise<boolean> {
  if (setup.since === undefined && setup.last === undefined) return false;
  const until = parseTime('now', 'until');
  const since = setup.since !== undefined ? parseTime(setup.since, 'since') : { seconds: 0, nanos: 0 };
  let remaining = setup.last ?? MAX_BACKFILL;
  const filters = setup.filters.source();
  const countPage = (limit: number, from: FlowPosition | null) => queries.history({
    kind: 'history', filters, since, until, order: 'desc', limit, after: from, maskPaths: null, output: 'count', keys: false,
  }, signal);
  let after = await lastStart(remaining, BACKFILL_PAGE * 10, countPage, () => signal.aborted);
  // The range may hold exactly `remaining` flows: something was left out only if a flow precedes the oldest one sent.
  const omitted = setup.since !== undefined && after !== null && (await countPage(1, stepPosition(after, 1))).count > 0;
  while (remaining > 0 && !signal.aborted) {
    const page = await queries.flows({ filters: setup.filters, since, until, order: 'asc', limit: Math.min(BACKFILL_PAGE, remaining), after }, 'ws', signal);
    await sub.sendBackfill(page.ws!);
    remaining -= page.ws!.ends.length;
    if (!page.next) break;
    after = page.next;
  }
  return omitted;
}

export interface StreamLimits {
  maxSubscribers: number;
  /** Origins allowed besides the API's own (same host). */
  allowedOrigins: string[];
}

/**
 * Browsers send Origin on WebSocket upgrades and do not apply CORS to them, so
 * any web page could otherwise read a local flowkeeper's stream. Allowed: no
 * Origin (non-browser clients), the API's own host, or a listed origin.
 */
function checkOrigin(req: FastifyRequest, allowed: string[]): void {
  const origin = req.headers.origin;
  if (origin === undefined || allowed.includes(origin)) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    host = '';
  }
  if (host !== '' && host === req.headers.host) return;
  throw new FlowkeeperError('FLOWKEEPER_ERR_FORBIDDEN', `origin ${echo(origin)} may not open the live stream (--allowed-origins)`);
}

/** GET /api/v1/flows/stream (WebSocket): optional backfill (since or last N), then live flows. */
export function registerStreamRoute(app: FastifyInstance, hub: LiveHub, queries: QueryPool, limits: StreamLimits): void {
  const { maxSubscribers } = limits;
  // One client (address) may hold at most a quarter of the slots, so it cannot lock others out.
  const perClient = Math.max(1, Math.floor(maxSubscribers / 4));
  const byClient = new Map<string, number>();
  const setups = new WeakMap<FastifyRequest, StreamSetup>();
  app.get('/api/v1/flows/stream', {
    websocket: true,
    schema: {
      summary: 'Live flows over WebSocket (same filters), with optional backfill',
      description: 'Query: hubble-observe-like filters or filters={"whitelist":[...],"blacklist":[...]}; since=15m or last=N for backfill. Frames: {"type":"flow",...jsonpb}, {"type":"lost","count":n}, {"type":"heartbeat"}, {"type":"backfill_done","count":n} (with since: "truncated":true when more than 10,000 flows matched and only the newest 10,000 were sent).',
      querystring: { type: 'object', additionalProperties: true, properties: { since: { type: 'string' }, last: { type: 'string' }, filters: { type: 'string' }, ...filterQueryProperties() } },
    },
    preValidation: async (req) => {
      checkOrigin(req, limits.allowedOrigins);
      if (hub.size >= maxSubscribers) throw new FlowkeeperError('FLOWKEEPER_ERR_TOO_MANY', `at most ${maxSubscribers} live subscribers (--ws-max-subscribers)`);
      if ((byClient.get(req.ip) ?? 0) >= perClient) throw new FlowkeeperError('FLOWKEEPER_ERR_TOO_MANY', `at most ${perClient} live subscribers per client address (a quarter of --ws-max-subscribers)`);
      setups.set(req, parseSetup(req));
    },
  }, async (socket, req) => {
    const setup = setups.get(req)!;
    const gone = new AbortController();
    const sub = new WsSubscriber(socket, setup.filters);
    hub.add(sub);
    byClient.set(req.ip, (byClient.get(req.ip) ?? 0) + 1);
    let alive = true;
    const timer = setInterval(() => {
      if (!alive) {
        socket.terminate();
        return;
      }
      alive = false;
      socket.ping();
      sub.heartbeat();
    }, HEARTBEAT_MS);
    socket.on('pong', () => (alive = true));
    socket.on('message', () => (alive = true));
    socket.on('close', () => {
      gone.abort();
      clearInterval(timer);
      hub.remove(sub);
      const left = (byClient.get(req.ip) ?? 1) - 1;
      if (left > 0) byClient.set(req.ip, left);
      else byClient.delete(req.ip);
    });
    let truncated: boolean;
    try {
      truncated = await backfill(queries, setup, sub, gone.signal);
    } catch (err) {
      if (gone.signal.aborted) return;
      req.log.warn({ err }, 'live stream backfill failed');
      socket.close(1011, 'backfill failed');
      return;
    }
    if (gone.signal.aborted) return;
    sub.finishBackfill(setup.since !== undefined ? truncated : undefined);
    hub.holdOver(sub);
  });
}

import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import type { Logger } from '../log.js';
import type { LiveHub } from '../live/hub.js';
import { installAuth } from './auth.js';
import { installErrorHandler } from './errors.js';
import type { QueryPool } from '../query/pool.js';
import { registerAggregateRoutes } from './routes/aggregate.js';
import { registerFlowRoutes } from './routes/flows.js';
import { registerStreamRoute } from './routes/stream.js';
import { registerViewRoutes } from './routes/views.js';
import { registerPolicyRoutes } from './routes/policies.js';
import type { StatusSource } from './status.js';

/** Largest request body accepted (a filter list is a few KB). */
export const BODY_LIMIT_BYTES = 256 * 1024;

export interface ServerDeps {
  status: StatusSource;
  queries: QueryPool;
  hub: LiveHub;
  log: Logger;
  version: string;
  apiToken: string;
  metricsToken: string;
  maxRangeSeconds: number;
  /** Rollups are kept this long: aggregates answered from them may reach back as far. */
  rollupRetentionSeconds: number;
  wsMaxSubscribers: number;
  /** Seconds a client may take to send a whole request. */
  requestTimeoutSeconds: number;
  maxConnections: number;
  /** Browser origins allowed on the WebSocket stream besides the API's own. */
  allowedOrigins: string[];
  /** Extra routes (e.g. /metrics) registered by their owners. */
  extraRoutes?: (app: FastifyInstance) => void;
}

/** The OpenAPI section a route is listed under. */
function tagOf(url: string): string {
  if (url.startsWith('/api/v1/flows')) return 'flows';
  if (url.startsWith('/api/v1/aggregate') || url === '/api/v1/drops' || url === '/api/v1/policy-denials') return 'aggregates';
  if (url === '/metrics') return 'metrics';
  if (url.startsWith('/api/v1/policies')) return 'policies';
  return 'health and status';
}

/** The HTTP face of flowkeeper: REST, WebSocket, OpenAPI, health. */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  // Per-request logs are info level; the API logs warnings and errors only.
  const apiLog = deps.log.child({ component: 'api' }, { level: deps.log.levelVal > 40 ? deps.log.level : 'warn' });
  const requestTimeout = deps.requestTimeoutSeconds * 1000;
  const app = Fastify({
    loggerInstance: apiLog as unknown as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Slow-body clients are cut off; Node checks pending requests at this interval.
    requestTimeout,
    http: { requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.max(100, Math.min(1000, requestTimeout / 2)) },
  });
  app.server.maxConnections = deps.maxConnections;
  installErrorHandler(app);
  // The WebSocket plugin's own onRequest hook must run before auth, so a refused upgrade's socket is closed.
  await app.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    // A client's bad frame (too large, unmasked, ...) is its problem: close it, no stack trace at error level.
    errorHandler: (error, socket, req) => {
      req.log.debug({ reason: error.message }, 'WebSocket closed after a client protocol error');
      socket.terminate();
    },
  });
  installAuth(app, { api: deps.apiToken, metrics: deps.metricsToken });
  await app.register(swagger, {
    openapi: {
      info: { title: 'flowkeeper', version: deps.version, description: 'Flow history for Cilium Hubble: stored flows, aggregates, live stream.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      ...(deps.apiToken ? { security: [{ bearer: [] }] } : {}),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', theme: { title: `flowkeeper ${deps.version} API` } });
  app.addHook('onRoute', (route) => {
    // @fastify/websocket hides WebSocket routes from OpenAPI; the live stream should be documented.
    if (route.websocket && route.schema) route.schema.hide = false;
    if (route.schema && !route.schema.tags) route.schema.tags = [tagOf(route.url)];
  });

  app.get('/healthz', { config: { access: 'public' }, schema: { summary: 'Liveness' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { access: 'public' }, schema: { summary: 'Readiness: at least one relay connected and the store writable' } }, async (_req, reply) => {
    const ready = deps.status.ready();
    return reply.code(ready.ready ? 200 : 503).send(ready);
  });
  app.get('/api/v1/status', { schema: { summary: 'Relays, ingest, store and lost events' } }, async () => deps.status.status());
  registerFlowRoutes(app, deps.queries, deps.maxRangeSeconds);
  // Aggregates default to the raw range but may reach back as far as rollups are kept (the engine bounds raw ones).
  const aggregateRange = { defaultSeconds: deps.maxRangeSeconds, maxSeconds: Math.max(deps.maxRangeSeconds, deps.rollupRetentionSeconds), option: '--rollup-retention' };
  registerAggregateRoutes(app, deps.queries, aggregateRange);
  registerViewRoutes(app, deps.queries, aggregateRange);
  registerPolicyRoutes(app, deps.queries, { defaultSeconds: Math.min(86_400, deps.maxRangeSeconds), maxSeconds: deps.maxRangeSeconds, option: '--query-max-range' });
  registerStreamRoute(app, deps.hub, deps.queries, { maxSubscribers: deps.wsMaxSubscribers, allowedOrigins: deps.allowedOrigins });
  deps.extraRoutes?.(app);
  return app;
}

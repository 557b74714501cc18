import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import type { StatusSource } from './status.js';

/**
 * The HTTP face of flowkeeper: health, readiness and status. (Flow queries,
 * aggregates and the live stream build on the same server.)
 */
export function buildServer(status: StatusSource, log: Logger): FastifyInstance {
  const app = Fastify({ loggerInstance: log as unknown as FastifyBaseLogger, bodyLimit: 1024 * 1024, disableRequestLogging: true });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ready = status.ready();
    return reply.code(ready.ready ? 200 : 503).send(ready);
  });
  app.get('/api/v1/status', async () => status.status());
  return app;
}

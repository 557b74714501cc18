import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import type { StatusSource } from './status.js';

/**
 * The HTTP face of flowkeeper: health, readiness and status. (Flow queries,
 * aggregates and the live stream build on the same server.)
 */
export function buildServer(status: StatusSource, log: Logger): FastifyInstance {
  // Per-request logs are info level; the API logs warnings and errors only.
  const apiLog = log.child({ component: 'api' }, { level: log.levelVal > 40 ? log.level : 'warn' });
  const app = Fastify({ loggerInstance: apiLog as unknown as FastifyBaseLogger, bodyLimit: 1024 * 1024 });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ready = status.ready();
    return reply.code(ready.ready ? 200 : 503).send(ready);
  });
  app.get('/api/v1/status', async () => status.status());
  return app;
}

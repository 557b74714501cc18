import type { FastifyInstance } from 'fastify';
import { requireToken } from '../api/auth.js';
import type { FlowkeeperMetrics } from './registry.js';

/** GET /metrics (Prometheus text format), optionally behind its own bearer token; times every API request. */
export function registerMetricsRoute(app: FastifyInstance, metrics: FlowkeeperMetrics, token: string): void {
  requireToken(app, '/metrics', token);
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    if (route === '/metrics') return;
    metrics.httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics', hide: false } }, async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

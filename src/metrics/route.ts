import type { FastifyInstance } from 'fastify';
import type { FlowkeeperMetrics } from './registry.js';

/** GET /metrics (Prometheus text format; the server's auth asks for the metrics token); times every API request. */
export function registerMetricsRoute(app: FastifyInstance, metrics: FlowkeeperMetrics): void {
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    if (route === '/metrics') return;
    metrics.httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { config: { access: 'metrics' }, schema: { summary: 'Prometheus metrics', hide: false } }, async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

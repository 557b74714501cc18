import type { FastifyError, FastifyInstance } from 'fastify';
import { FlowkeeperError, clip } from '../errors.js';

/** Every error leaves the API as {error, message, parameter?} with a stable code and status. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: 'FLOWKEEPER_ERR_NOT_FOUND', message: `no route ${req.method} ${clip(req.url)} (see /docs)` });
  });
  app.setErrorHandler((err: FastifyError | FlowkeeperError, req, reply) => {
    if (err instanceof FlowkeeperError) {
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
      return reply.code(err.status).send({ error: err.code, message: err.message, ...(err.parameter ? { parameter: err.parameter } : {}) });
    }
    if ((err as FastifyError).validation) {
      const v = (err as FastifyError).validation![0];
      const parameter = (v.instancePath || '').replace(/^\//, '').split('/')[0] || String((v.params as { missingProperty?: string }).missingProperty ?? '');
      return reply.code(400).send({ error: 'FLOWKEEPER_ERR_BAD_PARAMETER', message: `${parameter || 'request'}: ${v.message ?? 'invalid'}`, parameter });
    }
    const status = (err as FastifyError).statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    const code = status === 413 ? 'FLOWKEEPER_ERR_TOO_LARGE' : status >= 500 ? 'FLOWKEEPER_ERR_INTERNAL' : 'FLOWKEEPER_ERR_BAD_REQUEST';
    return reply.code(status).send({ error: code, message: status >= 500 ? 'internal error' : err.message });
  });
}

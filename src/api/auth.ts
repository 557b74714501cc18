import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FlowkeeperError } from '../errors.js';

function tokenOf(req: FastifyRequest): string | null {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  // Browsers cannot set headers on WebSocket upgrades; allow ?access_token= there.
  const q = (req.query as Record<string, unknown> | undefined)?.access_token;
  return typeof q === 'string' ? q : null;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Requires `Authorization: Bearer <token>` on every path under `prefix` when a token is configured. */
export function requireToken(app: FastifyInstance, prefix: string, token: string): void {
  if (!token) return;
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith(prefix)) return;
    const given = tokenOf(req);
    if (!given || !same(given, token)) {
      throw new FlowkeeperError('FLOWKEEPER_ERR_UNAUTHORIZED', given ? 'wrong bearer token' : 'missing bearer token (Authorization: Bearer <token>)');
    }
  });
}

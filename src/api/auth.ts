import { sameToken } from '../config/secrets.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FlowkeeperError } from '../errors.js';

/**
 * Who may call a route. Decided from the route the router matched (never from
 * the raw URL, which may be percent-encoded or absolute-form), so every way of
 * spelling a path reaches the same decision. Routes are `api` unless they say
 * otherwise: deny by default.
 */
export type RouteAccess = 'public' | 'api' | 'metrics';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyInstance {
    /** Every registered route with the access it needs (for audits and the auth test). */
    routeAccess: RouteEntry[];
  }
}

export interface RouteEntry {
  method: string;
  url: string;
  access: RouteAccess;
}

export interface AuthTokens {
  /** Required on every `api` route (empty = no auth). */
  api: string;
  /** Required on `metrics` routes (empty = open). */
  metrics: string;
}

/** Routes served by plugins (the OpenAPI page) that are public by prefix of their registered path. */
const PUBLIC_PREFIXES = ['/docs'];

/** RFC 7235: the auth scheme is case-insensitive. */
const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;

function bearerOf(req: FastifyRequest): string | null {
  const header = req.headers.authorization;
  if (header === undefined) return null;
  return BEARER.exec(header)?.[1] ?? '';
}

/** Browsers cannot set headers on a WebSocket upgrade: only there may the token travel in ?access_token=. */
function queryTokenOf(req: FastifyRequest): string | null {
  if (!isUpgrade(req)) return null;
  const q = (req.query as Record<string, unknown> | undefined)?.access_token;
  return typeof q === 'string' ? q : null;
}

function isUpgrade(req: FastifyRequest): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

function accessOf(req: FastifyRequest): RouteAccess {
  return req.routeOptions.config?.access ?? 'api';
}

/**
 * Installs deny-by-default bearer auth: marks plugin routes under the public
 * prefixes as public, then checks every request against the token its matched
 * route needs (unmatched paths count as `api`, so a 404 reveals nothing either).
 */
export function installAuth(app: FastifyInstance, tokens: AuthTokens): void {
  const table: RouteEntry[] = [];
  app.decorate('routeAccess', table);
  app.addHook('onRoute', (route) => {
    if (PUBLIC_PREFIXES.some((p) => route.url === p || route.url.startsWith(`${p}/`))) {
      route.config = { ...(route.config ?? {}), access: 'public' };
    }
    for (const method of [route.method].flat()) {
      table.push({ method, url: route.url, access: route.config?.access ?? 'api' });
    }
  });
  app.addHook('onRequest', async (req) => {
    const access = accessOf(req);
    const token = access === 'public' ? '' : tokens[access];
    if (!token) return;
    const given = bearerOf(req) ?? queryTokenOf(req);
    if (!given || !sameToken(given, token)) {
      const hint = access === 'metrics' ? 'the metrics token' : 'the API token';
      throw new FlowkeeperError('FLOWKEEPER_ERR_UNAUTHORIZED', given ? `wrong bearer token (${hint})` : `missing bearer token (Authorization: Bearer <${hint}>)`);
    }
  });
}

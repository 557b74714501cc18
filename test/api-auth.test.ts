import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { withSimAndApp, wsUpgradeStatus } from './helpers/harness.js';

const API = 'api-s3cret';
const METRICS = 'prom-s3cret';

interface Answer {
  status: number;
  body: string;
}

/** A raw HTTP request: the path goes on the wire exactly as given (encoded, absolute-form...). */
function raw(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    if (method === 'POST') req.write('{}');
    req.end();
  });
}

/** Every way of spelling one route that a router may decode to it. */
function spellings(path: string): string[] {
  const first = path.charCodeAt(1).toString(16);
  return [
    path,
    `/%${first}${path.slice(2)}`,
    `/%${first.toUpperCase()}${path.slice(2)}`,
    path.replace(/\/([a-z])([a-z]*)$/, (_m, c: string, rest: string) => `/%${c.charCodeAt(0).toString(16)}${rest}`),
    `http://flowkeeper.example${path}`,
    `${path}?x=1`,
  ];
}

function concrete(url: string): string {
  return url.replace(/\*$/, 'index.html').replace(/:[a-z]+/g, 'x');
}


test('deny by default: every registered route, in every spelling, needs its token unless it is public', async () => {
  await withSimAndApp(async ({ app }) => {
    const routes = app.server.routeAccess.filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS');
    const urls = new Set(routes.map((r) => r.url));
    for (const must of ['/api/v1/flows', '/api/v1/flows/query', '/api/v1/flows/stream', '/api/v1/aggregate', '/metrics', '/healthz', '/readyz', '/docs']) {
      assert.ok(urls.has(must), `route ${must} is in the table`);
    }
    let checked = 0;
    for (const r of routes) {
      const token = r.access === 'api' ? API : r.access === 'metrics' ? METRICS : null;
      for (const path of spellings(concrete(r.url))) {
        const anonymous = await raw(app.url, r.method, path);
        if (token) {
          assert.equal(anonymous.status, 401, `${r.method} ${path} without a token`);
          assert.match(anonymous.body, /FLOWKEEPER_ERR_UNAUTHORIZED/);
          const wrongToken = r.access === 'api' ? METRICS : API;
          assert.equal((await raw(app.url, r.method, path, { authorization: `Bearer ${wrongToken}` })).status, 401, `${r.method} ${path} with the other token`);
          const authorized = await raw(app.url, r.method, path, { authorization: `Bearer ${token}` });
          assert.notEqual(authorized.status, 401, `${r.method} ${path} with its token`);
        } else {
          assert.notEqual(anonymous.status, 401, `${r.method} ${path} is public`);
        }
        checked++;
      }
    }
    assert.ok(checked >= routes.length * 6);
  }, { args: ['--api-token', API, '--metrics-token', METRICS] });
});

test('deny by default: unknown paths answer 401 without a token and flowkeeper\'s 404 with one', async () => {
  await withSimAndApp(async ({ app }) => {
    for (const path of ['/nope', '/api/v2/flows', '/%2e%2e/api/v1/flows', '/api/v1/flows/../status']) {
      assert.equal((await raw(app.url, 'GET', path)).status, 401, path);
    }
    const notFound = await raw(app.url, 'GET', '/nope', { authorization: `Bearer ${API}` });
    assert.equal(notFound.status, 404);
    assert.equal((JSON.parse(notFound.body) as { error: string }).error, 'FLOWKEEPER_ERR_NOT_FOUND');
  }, { args: ['--api-token', API] });
});

test('the WebSocket stream needs the token in every spelling; ?access_token= works only on the upgrade', async () => {
  await withSimAndApp(async ({ app }) => {
    const ws = app.url.replace(/^http/, 'ws');
    for (const path of ['/api/v1/flows/stream', '/%61pi/v1/flows/stream', '/api/v1/flows/%73tream']) {
      assert.equal(await wsUpgradeStatus(`${ws}${path}`), 401, path);
      assert.equal(await wsUpgradeStatus(`${ws}${path}?access_token=wrong`), 401, `${path} wrong query token`);
    }
    assert.equal(await wsUpgradeStatus(`${ws}/api/v1/flows/stream?access_token=${API}`), 101);
    assert.equal(await wsUpgradeStatus(`${ws}/api/v1/flows/stream`, { authorization: `bearer ${API}` }), 101, 'scheme is case-insensitive');
    const viaQuery = await fetch(`${app.url}/api/v1/flows?access_token=${API}`);
    assert.equal(viaQuery.status, 401, 'REST routes take the token only from the Authorization header');
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      assert.equal((await fetch(`${app.url}/api/v1/status`, { headers: { authorization: `${scheme} ${API}` } })).status, 200, scheme);
    }
    assert.equal((await fetch(`${app.url}/api/v1/status`, { headers: { authorization: `Basic ${API}` } })).status, 401);
  }, { args: ['--api-token', API] });
});

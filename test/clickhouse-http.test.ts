import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ClickHouseHttp } from '../src/store/clickhouse/http.js';

/**
 * ClickHouse's HTTP transport where a real server cannot be made to misbehave
 * on cue: a connection closed just as a kept-alive request goes out on it.
 * This stand-in answers the first request on each connection (keep-alive),
 * then drops the connection on the next request it gets on it, unanswered.
 */
async function withDroppingServer(body: (url: string, seen: { connections: number; answered: string[] }) => Promise<void>): Promise<void> {
  const seen = { connections: 0, answered: [] as string[] };
  const served = new WeakSet<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (served.has(req.socket)) {
        req.socket.destroy();
        return;
      }
      served.add(req.socket);
      seen.answered.push(Buffer.concat(chunks).toString() || new URL(req.url!, 'http://x').searchParams.get('query')!);
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'keep-alive' });
      res.end('{"one":"1"}\n');
    });
  });
  server.on('connection', () => seen.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await body(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test('a statement on a kept-alive connection the server drops goes again on a new connection', async () => {
  await withDroppingServer(async (url, seen) => {
    const ch = new ClickHouseHttp({ url, database: 'db', user: 'default', password: '', timeoutMs: 5000 });
    try {
      assert.deepEqual(await ch.rows('SELECT 1 AS one'), [{ one: '1' }]);
      assert.deepEqual(await ch.rows('SELECT 2 AS one'), [{ one: '1' }]);
      assert.deepEqual(seen.answered, ['SELECT 1 AS one FORMAT JSONEachRow', 'SELECT 2 AS one FORMAT JSONEachRow']);
      assert.equal(seen.connections, 2, 'the second statement went out again on a new connection');
    } finally {
      ch.close();
    }
  });
});

for (const [what, write] of [
  ['an insert', (ch: ClickHouseHttp) => ch.insert('flows', ['time_ns'], [Buffer.alloc(8), Buffer.alloc(8)])],
  ['a statement that writes', (ch: ClickHouseHttp) => ch.command('INSERT INTO lost_events (minute) VALUES (1)')],
] as const) {
  test(`${what} on a dropped kept-alive connection is not sent again: it fails (the writer's commit, which asks whether it landed, retries it)`, async () => {
    await withDroppingServer(async (url, seen) => {
      const ch = new ClickHouseHttp({ url, database: 'db', user: 'default', password: '', timeoutMs: 5000 });
      try {
        await ch.rows('SELECT 1 AS one');
        await assert.rejects(write(ch), (err: Error & { code?: string }) => err.code === 'FLOWKEEPER_ERR_STORAGE' && /cannot be reached: ECONNRESET/.test(err.message));
        assert.equal(seen.connections, 1);
        assert.deepEqual(seen.answered, ['SELECT 1 AS one FORMAT JSONEachRow']);
      } finally {
        ch.close();
      }
    });
  });
}

test('https:// at a plain HTTP port is refused saying so, with the ports to use', async () => {
  // An HTTP server refuses a TLS hello at once (ClickHouse's may instead wait for the rest of a request: then the request times out).
  await withDroppingServer(async (url) => {
    const ch = new ClickHouseHttp({ url: url.replace('http:', 'https:'), database: 'db', user: 'default', password: '', timeoutMs: 5000 });
    try {
      await assert.rejects(ch.version(), (err: Error & { code?: string }) =>
        err.code === 'FLOWKEEPER_ERR_STORAGE' && /cannot be reached: EPROTO: no TLS there: https:\/\/ needs ClickHouse's https_port \(8443 by default\), http:\/\/ its http_port \(8123\)/.test(err.message));
    } finally {
      ch.close();
    }
  });
});

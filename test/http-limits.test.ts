import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { withSimAndApp } from './helpers/harness.js';

test('a slow-body request is cut off after --http-request-timeout', async () => {
  await withSimAndApp(async ({ app }) => {
    const { hostname, port } = new URL(app.url);
    const socket = connect(Number(port), hostname);
    await new Promise((r) => socket.once('connect', r));
    // Headers promise a body that never comes (the slowloris shape).
    socket.write('POST /api/v1/flows/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    const started = Date.now();
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
    });
    const waited = Date.now() - started;
    assert.match(answer, /^HTTP\/1\.1 408/, 'answered 408 Request Timeout');
    assert.ok(waited < 10_000, `closed after ${waited} ms`);
  }, { args: ['--http-request-timeout', '1s'] });
});

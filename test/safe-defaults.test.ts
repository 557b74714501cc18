import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import WebSocket from 'ws';
import { loadConfig } from '../src/config/load.js';
import { startApp } from '../src/app.js';
import { createLogger } from '../src/log.js';
import { startSim, tempDir, withSimAndApp, wsUpgradeStatus } from './helpers/harness.js';

test('by default the API listens on loopback only', () => {
  assert.equal(loadConfig([], {}).listen, '127.0.0.1:8080');
});

test('serving beyond loopback without a token is refused unless explicitly allowed', async () => {
  const { dir, cleanup } = tempDir();
  const { sim, port } = await startSim();
  const base = ['--relay', `127.0.0.1:${port}`, '--db', join(dir, 'fk.db'), '--log-level', 'silent', '--listen', '0.0.0.0:0', '--observer-listen', '127.0.0.1:0'];
  try {
    await assert.rejects(startApp(loadConfig(base, {}), createLogger('silent')), (err: Error & { parameter?: string }) =>
      /without --api-token/.test(err.message) && err.parameter === 'listen');
    for (const extra of [['--api-token', 't0ken'], ['--allow-unauthenticated']]) {
      const app = await startApp(loadConfig([...base, ...extra], {}), createLogger('silent'));
      await app.stop();
    }
  } finally {
    await sim.close();
    cleanup();
  }
});


test('the live stream refuses foreign browser origins (cross-site WebSocket reads)', async () => {
  await withSimAndApp(async ({ app }) => {
    const url = `${app.url.replace(/^http/, 'ws')}/api/v1/flows/stream`;
    const host = new URL(app.url).host;
    assert.equal(await wsUpgradeStatus(url, { origin: 'https://evil.example' }), 403);
    assert.equal(await wsUpgradeStatus(url, { origin: 'null' }), 403);
    assert.equal(await wsUpgradeStatus(url, { origin: `http://${host}` }), 101, 'the API\'s own origin');
    assert.equal(await wsUpgradeStatus(url, { origin: 'https://grafana.example' }), 101, 'a listed origin');
    assert.equal(await wsUpgradeStatus(url, {}), 101, 'non-browser clients send no Origin');
  }, { args: ['--allowed-origins', 'https://grafana.example'] });
});

test('one client address cannot take every live-stream slot', async () => {
  await withSimAndApp(async ({ app }) => {
    const url = `${app.url.replace(/^http/, 'ws')}/api/v1/flows/stream`;
    const open: WebSocket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const ws = new WebSocket(url);
        await new Promise((r) => ws.once('open', r));
        open.push(ws);
      }
      assert.equal(await wsUpgradeStatus(url, {}), 429, 'a third from the same address');
    } finally {
      for (const ws of open) ws.close();
    }
  }, { args: ['--ws-max-subscribers', '8'] });
});

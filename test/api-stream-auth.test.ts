import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { TrafficGenerator } from '../src/sim/traffic.js';
import { waitFor, withSimAndApp } from './helpers/harness.js';
import type { SimRelay } from '../src/sim/relay-server.js';

function wsUrl(httpUrl: string, path: string): string {
  return httpUrl.replace(/^http/, 'ws') + path;
}

function feed(sim: SimRelay, gen: TrafficGenerator, flows: number): number {
  let n = 0;
  while (n < flows) {
    for (const f of gen.next(Date.now())) {
      sim.pushFlow(f.flow, f.seconds, f.nanos);
      n++;
    }
  }
  return n;
}

interface Frame {
  type: string;
  count?: number;
  flow?: { verdict?: string; source?: { namespace?: string } };
}

test('live stream: backfill then follow, with the same filters', async () => {
  const gen = new TrafficGenerator(5);
  await withSimAndApp(async ({ sim, app }) => {
    const before = feed(sim, gen, 500);
    await waitFor('stored', () => app.pipeline.stats.stored === before);
    const ws = new WebSocket(wsUrl(app.url, '/api/v1/flows/stream?verdict=DROPPED&since=1h'));
    const frames: Frame[] = [];
    ws.on('message', (m) => frames.push(JSON.parse(m.toString()) as Frame));
    await new Promise((r) => ws.once('open', r));
    await waitFor('backfill done', () => frames.some((f) => f.type === 'backfill_done'));
    const backfilled = frames.filter((f) => f.type === 'flow').length;
    const storedDrops = app.reader!.flows({ limit: 100_000, order: 'asc' }).filter((f) => f.verdict === 'DROPPED').length;
    assert.equal(backfilled, storedDrops);
    feed(sim, gen, 500);
    await waitFor('live drops arrive', () => frames.filter((f) => f.type === 'flow').length > backfilled);
    for (const f of frames.filter((x) => x.type === 'flow')) assert.equal(f.flow?.verdict, 'DROPPED');
    ws.close();
  });
});

test('a backfill larger than the send buffer reaches a client that reads it completely and in order (since: the newest 10,000, saying older ones were left out; last=N: the newest N)', async () => {
  const gen = new TrafficGenerator(7);
  await withSimAndApp(async ({ sim, app }) => {
    const fed = feed(sim, gen, 12_000);
    await waitFor('stored', () => app.pipeline.stats.stored === fed, 30_000);
    const stored = app.reader!.flows({ limit: 100_000, order: 'asc' }).map((f) => f.uuid);
    const backfillOf = async (query: string): Promise<{ uuids: unknown[]; count: number | undefined; truncated: unknown; lost: number }> => {
      const ws = new WebSocket(wsUrl(app.url, `/api/v1/flows/stream?${query}`));
      const frames: (Frame & { flow?: { uuid?: string } })[] = [];
      ws.on('message', (m) => frames.push(JSON.parse(m.toString()) as Frame));
      try {
        await waitFor(`backfill done (${query})`, () => frames.some((f) => f.type === 'backfill_done'), 30_000);
        const done = frames.findIndex((f) => f.type === 'backfill_done');
        const before = frames.slice(0, done);
        const lost = before.filter((f) => f.type === 'lost').reduce((n, f) => n + (f.count ?? 0), 0);
        return { uuids: before.filter((f) => f.type === 'flow').map((f) => f.flow?.uuid), count: frames[done].count, truncated: (frames[done] as { truncated?: unknown }).truncated, lost };
      } finally {
        ws.close();
      }
    };
    const since = await backfillOf('since=1h');
    // Ten thousand frames are several MB: far more than the 1 MB a live client may have unsent.
    assert.equal(since.lost, 0);
    assert.equal(since.count, 10_000);
    // The newest 10,000, so the backfill runs on into the live flows without a gap; the older 2,000 are said to be left out.
    assert.deepEqual(since.uuids, stored.slice(-10_000));
    assert.equal(since.truncated, true);
    // A range holding exactly what is sent leaves nothing out.
    const oldest = stored.length - 10_000;
    const exact = await backfillOf(`since=${encodeURIComponent(String(app.reader!.flows({ limit: oldest + 1, order: 'asc' })[oldest].time))}`);
    assert.equal(exact.count, 10_000);
    assert.equal(exact.truncated, false);
    assert.deepEqual(exact.uuids, stored.slice(-10_000));
    const last = await backfillOf('last=2500');
    assert.equal(last.count, 2500);
    assert.equal(last.truncated, undefined);
    assert.deepEqual(last.uuids, stored.slice(-2500));
  });
});

test('a slow WebSocket client gets "lost" frames, never slows ingest and costs no decoding while stalled', async () => {
  const gen = new TrafficGenerator(6);
  await withSimAndApp(async ({ sim, app }) => {
    const ws = new WebSocket(wsUrl(app.url, '/api/v1/flows/stream'));
    const frames: Frame[] = [];
    ws.on('message', (m) => frames.push(JSON.parse(m.toString()) as Frame));
    await new Promise((r) => ws.once('open', r));
    await waitFor('subscribed', () => app.hub.size === 1);
    // Stop reading: the server's send buffer for this client fills up.
    (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    let sent = 0;
    for (let round = 0; round < 8; round++) {
      sent += feed(sim, gen, 5000);
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor('ingest kept up while the client was stalled', () => app.pipeline.stats.stored === sent, 30_000);
    // Once its buffer is full, flows for it are counted lost without being decoded: a stalled client costs (almost) nothing.
    assert.ok(app.hub.decoded < sent / 2, `decoded ${app.hub.decoded} of ${sent} flows for a stalled client`);
    (ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const tail = feed(sim, gen, 50);
    await waitFor('lost frame', () => frames.some((f) => f.type === 'lost'), 20_000);
    const lost = frames.filter((f) => f.type === 'lost').reduce((s, f) => s + (f.count ?? 0), 0);
    const delivered = frames.filter((f) => f.type === 'flow').length;
    assert.ok(lost > 0);
    // Every flow is either delivered or reported lost, never more (gen.next may emit a few past 50).
    assert.ok(delivered + lost <= sent + tail, `delivered ${delivered} + lost ${lost} > sent ${sent} + ${tail}`);
    assert.ok(delivered > 0);
    ws.close();
  });
});

test('bearer token: REST and WebSocket need it; health stays open; subscriber cap answers 429', async () => {
  await withSimAndApp(async ({ app }) => {
    const missing = await fetch(`${app.url}/api/v1/flows`);
    assert.equal(missing.status, 401);
    assert.equal(((await missing.json()) as { error: string }).error, 'FLOWKEEPER_ERR_UNAUTHORIZED');
    assert.equal((await fetch(`${app.url}/api/v1/status`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await fetch(`${app.url}/api/v1/flows`, { headers: { authorization: 'Bearer s3cret' } })).status, 200);
    assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
    const refused = new WebSocket(wsUrl(app.url, '/api/v1/flows/stream'));
    const status = await new Promise<number>((resolve) => refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    assert.equal(status, 401);
    const ok = new WebSocket(wsUrl(app.url, '/api/v1/flows/stream'), { headers: { authorization: 'Bearer s3cret' } });
    await new Promise((r) => ok.once('open', r));
    const second = new WebSocket(wsUrl(app.url, '/api/v1/flows/stream?access_token=s3cret'));
    const capped = await new Promise<number>((resolve) => second.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    assert.equal(capped, 429);
    ok.close();
  }, { args: ['--api-token', 's3cret', '--ws-max-subscribers', '1'] });
});

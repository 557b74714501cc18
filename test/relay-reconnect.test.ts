import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TrafficGenerator } from '../src/sim/traffic.js';
import { freePort, pushJsonLine, startTestApp, tempDir, waitFor, withSimAndApp } from './helpers/harness.js';
import { fixtureLines } from './helpers/fixtures.js';
import { SimRelay } from '../src/sim/relay-server.js';

/** Pushes generated flows into the simulator, remembering every uuid sent. */
function feed(sim: SimRelay, generator: TrafficGenerator, events: number, sent: Set<string>): void {
  for (let i = 0; i < events; i++) {
    for (const f of generator.next(Date.now())) {
      sent.add(f.flow.uuid as string);
      sim.pushFlow(f.flow, f.seconds, f.nanos);
    }
  }
}

function storedUuids(app: Awaited<ReturnType<typeof startTestApp>>): string[] {
  return app.reader!.flows({ limit: 1_000_000, order: 'asc' }).map((f) => f.uuid as string);
}

test('a relay stream broken mid-way reconnects with backoff, resumes, and loses or duplicates nothing', async () => {
  const gen = new TrafficGenerator(7);
  const sent = new Set<string>();
  await withSimAndApp(async ({ sim, app }) => {
    await waitFor('stream open', () => sim.followerCount === 1);
    for (let round = 0; round < 4; round++) {
      feed(sim, gen, 300, sent);
      await waitFor('flows stored', () => app.pipeline.stats.stored > 0);
      sim.breakStreams();
      // Flows produced while flowkeeper is disconnected must come back through `since`.
      feed(sim, gen, 100, sent);
      await waitFor('reconnected', () => sim.followerCount === 1);
    }
    feed(sim, gen, 200, sent);
    await waitFor('every sent flow stored', () => app.pipeline.stats.stored === sent.size, 20_000);
    const uuids = storedUuids(app);
    assert.equal(uuids.length, sent.size, 'stored count equals sent count');
    assert.equal(new Set(uuids).size, uuids.length, 'no flow stored twice');
    for (const u of sent) assert.ok(uuids.includes(u), `flow ${u} missing`);
    const status = app.relays[0].status;
    assert.equal(status.reconnects, 4);
    assert.ok(app.pipeline.stats.duplicates > 0, 'the resume overlap was replayed and de-duplicated');
    const resumed = sim.requests.slice(1);
    assert.equal(resumed.length, 4);
    for (const r of resumed) assert.ok(r.since, 'reconnects resume with since');
  });
});

test('relay down at start: keeps retrying, reports it, and recovers when the relay appears', async () => {
  const { dir, cleanup } = tempDir();
  const port = await freePort();
  const app = await startTestApp(port, join(dir, 'fk.db'));
  let sim: SimRelay | null = null;
  try {
    await waitFor('several failed attempts', () => app.relays[0].status.consecutiveFailures >= 3);
    const status = app.relays[0].status;
    assert.equal(status.connected, false);
    assert.match(status.lastError ?? '', /UNAVAILABLE|connect|ECONNREFUSED/i);
    const notReady = await fetch(`${app.url}/readyz`);
    assert.equal(notReady.status, 503);
    const report = (await (await fetch(`${app.url}/api/v1/status`)).json()) as { relays: { state: string; lastError: string }[] };
    assert.ok(['backoff', 'connecting'].includes(report.relays[0].state));
    assert.ok(report.relays[0].lastError);

    sim = new SimRelay();
    await sim.listen(`127.0.0.1:${port}`);
    const sent = new Set<string>();
    feed(sim, new TrafficGenerator(3), 50, sent);
    await waitFor('flows stored after recovery', () => app.pipeline.stats.stored === sent.size, 20_000);
    assert.equal(app.relays[0].status.connected, true);
    assert.equal((await fetch(`${app.url}/readyz`)).status, 200);
  } finally {
    await app.stop();
    await sim?.close();
    cleanup();
  }
});

test('flows without uuid are de-duplicated on resume by time, node and 5-tuple', async () => {
  const lines = fixtureLines('basic-sample-400-tcp-flows.jsonl');
  await withSimAndApp(async ({ sim, app }) => {
    await waitFor('first half stored', () => app.pipeline.stats.stored === 200);
    sim.breakStreams();
    for (const line of lines.slice(200)) pushJsonLine(sim, line);
    await waitFor('reconnected and caught up', () => app.relays[0].status.reconnects === 1 && app.pipeline.stats.stored === lines.length);
    assert.ok(app.pipeline.stats.duplicates > 0, 'overlap replayed');
    assert.equal(app.reader!.count(), lines.length);
  }, { before: (sim) => lines.slice(0, 200).forEach((line) => pushJsonLine(sim, line)) });
});

test('a flow dated next year is stored but does not move the resume point past now', async () => {
  const gen = new TrafficGenerator(11);
  await withSimAndApp(async ({ sim, app }) => {
    await waitFor('stream open', () => sim.followerCount === 1);
    const [future] = gen.next(Date.now() + 365 * 86_400_000);
    sim.pushFlow(future.flow, future.seconds, future.nanos);
    const sent = new Set<string>();
    feed(sim, gen, 50, sent);
    await waitFor('stored', () => app.pipeline.stats.stored === sent.size + 1);
    assert.equal(app.pipeline.stats.futureDated, 1);
    sim.breakStreams();
    await waitFor('reconnected', () => sim.requests.length === 2 && sim.followerCount === 1);
    const since = Number(sim.requests[1].since?.seconds);
    assert.ok(since <= Date.now() / 1000, `resumes from ${new Date(since * 1000).toISOString()}, not from the future`);
    assert.ok(since > Date.now() / 1000 - 120, 'and not from long ago');
  });
});

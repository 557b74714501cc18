import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrafficGenerator } from '../src/sim/traffic.js';
import type { SimRelay } from '../src/sim/relay-server.js';
import { waitFor, withSimAndApp } from './helpers/harness.js';
import { FlowType, GetFlowsResponseType } from '../src/flows/schema.js';

test('malformed relay messages (and flows with impossible times) are counted and skipped; the flows around them are stored', async () => {
  const gen = new TrafficGenerator(11);
  let good = 0;
  const now = Date.now();
  const pushGood = (sim: SimRelay): void => {
    for (const f of gen.next(now + good)) {
      sim.pushFlow(f.flow, f.seconds, f.nanos);
      good++;
    }
  };
  const before = (sim: SimRelay): void => {
    pushGood(sim);
    // A truncated varint, a length running past the message, a flow without time, an empty response.
    sim.push({ seconds: 0, nanos: 0, bytes: Buffer.from([0x0a, 0xff]) });
    sim.push({ seconds: 0, nanos: 0, bytes: Buffer.from([0x0a, 0x40, 0x01, 0x02]) });
    sim.push({ seconds: 0, nanos: 0, bytes: Buffer.from([0x0a, 0x02, 0x10, 0x01]) });
    sim.push({ seconds: 0, nanos: 0, bytes: Buffer.alloc(0) });
    // Flows with times no Timestamp can hold: seconds = -1 (10-byte varint), and year 10000.
    sim.pushResponse({ flow: { time: { seconds: -1, nanos: 0 }, verdict: 1 } }, 0, 0);
    sim.pushResponse({ flow: { time: { seconds: 253_402_300_800, nanos: 0 }, verdict: 1 } }, 0, 0);
    pushGood(sim);
  };
  await withSimAndApp(async ({ app }) => {
    await waitFor('good flows stored', () => app.pipeline.stats.stored === good);
    await waitFor('status updated', () => app.relays[0].status.malformed === 6);
    assert.equal(app.pipeline.stats.malformed, 6);
    assert.equal(app.reader!.count(), good);
    assert.equal(app.relays[0].status.connected, true, 'bad messages do not break the stream');
  }, { before });
});

test('lost_events and node_status messages are counted and kept in status and the store', async () => {
  const t = Math.floor(Date.now() / 1000);
  const before = (sim: SimRelay): void => {
    sim.pushResponse({ lost_events: { source: 3, num_events_lost: 12 }, node_name: 'prod-eu1/node-a', time: { seconds: t, nanos: 0 } }, t, 0);
    sim.pushResponse({ lost_events: { source: 1, num_events_lost: 5, cpu: { value: 1 } }, node_name: 'prod-eu1/node-b', time: { seconds: t, nanos: 1 } }, t, 1);
    sim.pushResponse({ lost_events: { source: 3, num_events_lost: 3 }, node_name: 'prod-eu1/node-a', time: { seconds: t, nanos: 2 } }, t, 2);
    sim.pushResponse({ node_status: { state_change: 2, node_names: ['prod-eu1/node-c'], message: 'connection refused' }, time: { seconds: t, nanos: 3 } }, t, 3);
  };
  await withSimAndApp(async ({ app }) => {
    await waitFor('lost events noted', () => (app.relays[0].status.lostEvents.HUBBLE_RING_BUFFER ?? 0) === 15);
    const status = app.relays[0].status;
    assert.equal(status.lostEvents.PERF_EVENT_RING_BUFFER, 5);
    assert.equal(status.nodeEvents.length, 1);
    assert.equal(status.nodeEvents[0].state, 'NODE_UNAVAILABLE');
    assert.deepEqual(status.nodeEvents[0].nodes, ['prod-eu1/node-c']);
    const stored = app.reader!.lostEvents().sort((a, b) => a.node.localeCompare(b.node));
    assert.deepEqual(stored, [
      { relay: 'test', source: 3, node: 'prod-eu1/node-a', events: 15 },
      { relay: 'test', source: 1, node: 'prod-eu1/node-b', events: 5 },
    ]);
    assert.equal(app.reader!.count(), 0);
  }, { before });
});

test('a flow whose verbatim-kept field is damaged is counted malformed at write time and never fails a page', async () => {
  const gen = new TrafficGenerator(12);
  const now = Date.now();
  const [good] = gen.next(now);
  const flowBytes = Buffer.from(FlowType.encode(FlowType.fromObject(good.flow)).finish());
  // trace_context (field 30, length-delimited) holding a string field that claims 5 bytes but has 1.
  const damaged = Buffer.concat([flowBytes, Buffer.from([0xf2, 0x01, 0x03, 0x0a, 0x05, 0x61])]);
  const lengthVarint = (n: number): number[] => (n < 128 ? [n] : [(n & 0x7f) | 0x80, ...lengthVarint(n >>> 7)]);
  const response = Buffer.concat([
    Buffer.from([0x0a, ...lengthVarint(damaged.length)]), damaged,
    Buffer.from(GetFlowsResponseType.encode(GetFlowsResponseType.fromObject({ node_name: 'n1', time: { seconds: good.seconds, nanos: good.nanos } })).finish()),
  ]);
  let sent = 0;
  await withSimAndApp(async ({ app, sim }) => {
    sim.push({ seconds: good.seconds, nanos: good.nanos, bytes: response });
    for (const f of gen.next(now + 1)) {
      sim.pushFlow(f.flow, f.seconds, f.nanos);
      sent++;
    }
    await waitFor('good flows stored', () => app.pipeline.stats.stored === sent);
    await waitFor('damaged one counted', () => app.pipeline.stats.malformed === 1);
    const res = await fetch(`${app.url}/api/v1/flows?since=1h&limit=1000`);
    assert.equal(res.status, 200);
    assert.equal((await res.text()).split('\n').filter(Boolean).length, sent);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import type { App } from '../src/app.js';
import { toResponseJson } from '../src/flows/record.js';
import type { FlowRecord } from '../src/flows/record.js';
import { ROOT_DIR } from '../src/paths.js';
import { wsTextFrame } from '../src/live/frames.js';
import { LiveHub } from '../src/live/hub.js';
import type { Subscriber } from '../src/live/hub.js';
import { WsSubscriber } from '../src/live/ws-subscriber.js';
import { FilterSet } from '../src/query/filter.js';
import { TrafficGenerator } from '../src/sim/traffic.js';
import { GetFlowsResponseType } from '../src/flows/schema.js';
import type { SimMessage, SimRelay } from '../src/sim/relay-server.js';
import { startTestApp, tempDir, waitFor, withSimAndApp } from './helpers/harness.js';
import { simulatorResponse } from './helpers/fixtures.js';

interface Frame {
  type: string;
  count?: number;
  flow?: { uuid?: string; verdict?: string };
}

/** About `flows` flows, encoded as a relay sends them (encoding is done before the clock starts). */
function encodeFlows(gen: TrafficGenerator, flows: number): { uuid: string; message: SimMessage }[] {
  const out: { uuid: string; message: SimMessage }[] = [];
  while (out.length < flows) {
    for (const f of gen.next(Date.now())) {
      const bytes = simulatorResponse(f);
      out.push({ uuid: String(f.flow.uuid), message: { seconds: f.seconds, nanos: f.nanos, bytes } });
    }
  }
  return out;
}

/** Sends encoded flows `step` at a time every 100 ms (a steady rate, as a relay sends them); their uuids in the order sent. */
async function sendPaced(sim: SimRelay, flows: { uuid: string; message: SimMessage }[], step: number): Promise<string[]> {
  for (let at = 0; at < flows.length; at += step) {
    for (const f of flows.slice(at, at + step)) sim.push(f.message);
    await new Promise((r) => setTimeout(r, 100));
  }
  return flows.map((f) => f.uuid);
}

test('WebSocket frames written by the live thread reach a ws client intact at every length encoding (7-bit, 16-bit, 64-bit)', async () => {
  const texts = ['', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(65_535), 'é'.repeat(40_000), '{"a":"ü€𝄞"}'.repeat(7000)];
  const server = createServer();
  const wss = new WebSocketServer({ server });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    wss.on('connection', (ws) => {
      // As WsSubscriber writes them: straight onto the TCP socket, all in one write.
      (ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(Buffer.concat(texts.map(wsTextFrame)));
    });
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const got: string[] = [];
    client.on('message', (m, binary) => {
      assert.equal(binary, false);
      got.push(m.toString());
    });
    await waitFor('every frame', () => got.length === texts.length);
    assert.deepEqual(got, texts);
    client.close();
  } finally {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await new Promise((r) => server.close(r));
  }
});

test('subscribers that keep up lose nothing while a relay in another process sends 10,000 flows/s; each frame is the stored flow, filtered or not', async () => {
  // The relay runs in its own process, as in production: an in-process one shares the event loop and cannot press on it.
  const feeder = fork(join(ROOT_DIR, 'dist', 'test', 'bench', 'feeder.js'), ['10000'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { dir, cleanup } = tempDir();
  let app: App | null = null;
  try {
    const port = await new Promise<number>((resolve, reject) => {
      feeder.on('message', (m: { type: string; port: number }) => m.type === 'listening' && resolve(m.port));
      feeder.once('exit', () => reject(new Error('the feeder exited before listening')));
    });
    app = await startTestApp(port, join(dir, 'fk.db'));
    const url = app.url.replace(/^http/, 'ws') + '/api/v1/flows/stream';
    // The clients share this process with flowkeeper: they keep frames as received and read them afterwards.
    const open = (query: string): { frames: Buffer[]; ws: WebSocket } => {
      const sub = { frames: [] as Buffer[], ws: new WebSocket(url + query) };
      sub.ws.on('message', (m: Buffer) => sub.frames.push(m));
      return sub;
    };
    const read = (frames: Buffer[]): { flows: { type: string; flow: FlowRecord }[]; lost: number[] } => {
      const parsed = frames.map((f) => JSON.parse(f.toString()) as { type: string; flow: FlowRecord; count?: number });
      return { flows: parsed.filter((f) => f.type === 'flow'), lost: parsed.filter((f) => f.type === 'lost').map((f) => f.count ?? 0) };
    };
    const all = open('');
    const drops = open('?verdict=DROPPED');
    await Promise.all([all.ws, drops.ws].map((ws) => new Promise((r) => ws.once('open', r))));
    await new Promise((r) => setTimeout(r, 3000));
    feeder.kill();
    // The relay is gone: wait until everything it sent is stored, encoded, and no frame has come in for a while.
    let last = -1;
    let quiet = 0;
    await waitFor('ingest and live stream settled', () => {
      const now = all.frames.length + drops.frames.length;
      quiet = now === last && app!.pipeline.stats.queuedMessages === 0 && app!.hub.backlog === 0 ? quiet + 1 : 0;
      last = now;
      return quiet >= 8;
    }, 30_000);
    const stored = app.reader!.flows({ limit: 1_000_000, order: 'asc' });
    const { flows: live, lost } = read(all.frames);
    assert.ok(live.length > 10_000, `only ${live.length} flows delivered`);
    assert.deepEqual(lost, []);
    // Every stored flow from the first one delivered on, in order, each exactly as the REST API returns it, with "type":"flow" in front.
    const from = stored.findIndex((f) => f.uuid === live[0].flow.uuid);
    assert.ok(from >= 0);
    assert.equal(live.length, stored.length - from);
    for (let i = 0; i < live.length; i++) assert.deepEqual(live[i], { type: 'flow', ...toResponseJson(stored[from + i]) }, `flow ${i}`);
    const dropped = read(drops.frames);
    const liveDrops = dropped.flows.map((f) => f.flow.uuid);
    assert.deepEqual(dropped.lost, []);
    assert.ok(liveDrops.length > 100);
    const dropsFrom = stored.findIndex((f) => f.uuid === liveDrops[0]);
    assert.deepEqual(liveDrops, stored.slice(dropsFrom).filter((f) => f.verdict === 'DROPPED').map((f) => f.uuid));
    all.ws.close();
    drops.ws.close();
  } finally {
    feeder.kill();
    await app?.stop();
    cleanup();
  }
});

test('a live thread that dies is replaced: the flows after it still reach the subscriber, in order', async () => {
  const gen = new TrafficGenerator(12);
  await withSimAndApp(async ({ sim, app }) => {
    const ws = new WebSocket(app.url.replace(/^http/, 'ws') + '/api/v1/flows/stream');
    const frames: Frame[] = [];
    ws.on('message', (m) => frames.push(JSON.parse(m.toString()) as Frame));
    await new Promise((r) => ws.once('open', r));
    await waitFor('subscribed', () => app.hub.size === 1);
    const first = await sendPaced(sim, encodeFlows(gen, 200), 200);
    await waitFor('first flows', () => frames.filter((f) => f.type === 'flow').length === first.length);
    const hub = app.hub as unknown as { worker: { terminate(): Promise<number> } | null };
    assert.ok(hub.worker, 'the live thread runs while someone is subscribed');
    await hub.worker.terminate();
    const second = await sendPaced(sim, encodeFlows(gen, 300), 300);
    await waitFor('flows after the restart', () => frames.filter((f) => f.type === 'flow').length === first.length + second.length, 20_000);
    assert.deepEqual(frames.filter((f) => f.type === 'lost'), []);
    assert.deepEqual(frames.filter((f) => f.type === 'flow').map((f) => f.flow!.uuid), [...first, ...second]);
    ws.close();
  });
});

/** A relay message whose flow has this time (none: no time at all). */
function flowAtTime(seconds: number | null, uuid: string): Buffer {
  const time = seconds === null ? undefined : { seconds, nanos: 1 };
  return Buffer.from(GetFlowsResponseType.encode(GetFlowsResponseType.fromObject({ flow: { ...(time ? { time } : {}), verdict: 1, uuid }, node_name: 'n', time: time ?? { seconds: 1, nanos: 0 } })).finish());
}

// Alone, each: an unfiltered subscriber (its text is written without a record), and one whose filter every flow
// passes (its record is built first).
for (const query of ['', '?not_namespace=no-such-namespace']) {
  test(`flows the writer refuses to store (no time, a time past year 9999, past JavaScript's last date) are not shown live: counted malformed, and the next flows follow (subscriber "${query}")`, async () => {
    const gen = new TrafficGenerator(13);
    await withSimAndApp(async ({ sim, app }) => {
      const sub = { ws: new WebSocket(app.url.replace(/^http/, 'ws') + '/api/v1/flows/stream' + query), frames: [] as Frame[] };
      sub.ws.on('message', (m) => sub.frames.push(JSON.parse(m.toString()) as Frame));
      await new Promise((r) => sub.ws.once('open', r));
      await waitFor('subscribed', () => app.hub.size === 1);
      const hub = app.hub as unknown as { worker: object | null };
      const flows = (): Frame[] => sub.frames.filter((f) => f.type === 'flow');
      const before = await sendPaced(sim, encodeFlows(gen, 100), 100);
      await waitFor('first flows', () => flows().length === before.length);
      const thread = hub.worker;
      const stored = app.pipeline.stats.stored;
      // Year 14645 still prints (as "+014645-…", not RFC 3339); 10^13 s is past JavaScript's last date (year 275760).
      const bad = [null, 400_000_000_000, 10_000_000_000_000];
      for (const [i, seconds] of bad.entries()) sim.push({ seconds: seconds ?? 1, nanos: 1, bytes: flowAtTime(seconds, `bad-${i}`) });
      const after = await sendPaced(sim, encodeFlows(gen, 100), 100);
      await waitFor('flows after them', () => flows().length === before.length + after.length, 20_000);
      assert.deepEqual(sub.frames.filter((f) => f.type === 'lost'), []);
      assert.deepEqual(flows().map((f) => f.flow!.uuid), [...before, ...after]);
      assert.equal(hub.worker, thread, 'the same live thread');
      assert.equal(app.hub.malformed, bad.length);
      await waitFor('stored', () => app.pipeline.stats.stored === stored + after.length);
      assert.equal(app.pipeline.stats.malformed, bad.length, 'the writer refused the same flows');
      sub.ws.close();
    });
  });
}

/** Each thread of this process as /proc/self/task/<tid> shows it: its name (comm), nice value and scheduling policy (Linux). */
function threads(): { name: string; nice: number; policy: number }[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { name: readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(), nice: Number(fields[16]), policy: Number(fields[38]) };
  });
}

/** Linux's SCHED_IDLE scheduling class, as /proc reports a thread's policy. */
const SCHED_IDLE = 5;

test('flowkeeper names its threads (fk-writer, fk-live, fk-query) and the live thread yields to ingest: nice 5, ingest at 0, queries at 10 in SCHED_IDLE', async () => {
  const gen = new TrafficGenerator(14);
  await withSimAndApp(async ({ sim, app }) => {
    const named = (name: string) => threads().filter((t) => t.name === name);
    assert.equal(named('fk-live').length, 0, 'no live thread before anyone subscribes');
    const ws = new WebSocket(app.url.replace(/^http/, 'ws') + '/api/v1/flows/stream');
    const frames: Frame[] = [];
    ws.on('message', (m) => frames.push(JSON.parse(m.toString()) as Frame));
    await new Promise((r) => ws.once('open', r));
    const sent = await sendPaced(sim, encodeFlows(gen, 50), 50);
    await waitFor('flows', () => frames.filter((f) => f.type === 'flow').length === sent.length);
    // A query, so that the query threads have started.
    assert.equal((await fetch(`${app.url}/api/v1/flows?limit=1`)).status, 200);
    const all = threads();
    const shown = all.map((t) => `${t.name}:${t.nice}:${t.policy}`).join(' ');
    assert.deepEqual(named('fk-live').map((t) => [t.nice, t.policy]), [[5, 0]], shown);
    assert.deepEqual(named('fk-writer').map((t) => [t.nice, t.policy]), [[0, 0]], shown);
    assert.equal(all[0].nice, 0, 'the main thread');
    assert.equal(all[0].name, 'node', 'the main thread keeps the process name');
    // The query threads also run in SCHED_IDLE (set with util-linux's chrt); every other thread in the normal class.
    const queryThreads = named('fk-query');
    assert.ok(queryThreads.length >= 1 && queryThreads.every((t) => t.nice === 10 && t.policy === SCHED_IDLE), `${shown} (policy 5 is SCHED_IDLE; is chrt, from util-linux, installed?)`);
    assert.ok(all.filter((t) => t.name !== 'fk-query').every((t) => t.policy === 0 && t.nice !== 10), shown);
    ws.close();
  });
});

/** A subscription the live thread will refuse: filters that passed the API's checks but do not parse where they run (a defect, were it to happen). */
function refusedBy(real: FilterSet): FilterSet {
  return Object.assign(Object.create(real) as FilterSet, { source: () => ({ whitelist: 'not a list', blacklist: [] }) });
}

test('a subscription the live thread refuses ends that subscriber with the reason; the others go on', async () => {
  const hub = new LiveHub();
  try {
    const refusals: string[] = [];
    const got: number[] = [];
    const subscriber = (filters: FilterSet, index: number): Subscriber => ({
      filters, form: { kind: 'ws' }, skipped: () => {}, failed: (reason) => refusals.push(reason),
      deliverFrames: (_frames, ends) => void (got[index] = (got[index] ?? 0) + ends.length),
    });
    const everything = FilterSet.parse({});
    hub.add(subscriber(everything, 0));
    hub.add(subscriber(refusedBy(everything), 1));
    await waitFor('the refusal', () => refusals.length === 1);
    assert.match(refusals[0], /^the live stream could not take this subscription: whitelist must be an array/);
    assert.equal(hub.size, 1, 'the refused subscriber is removed');
    for (const { message } of encodeFlows(new TrafficGenerator(15), 20)) hub.offer(message.bytes);
    await waitFor('flows for the other', () => (got[0] ?? 0) >= 20);
    assert.equal(got[1], undefined);
  } finally {
    await hub.close();
  }
});

test('a refused WebSocket subscriber is closed with 1011 and the reason, cut to 123 bytes at a character', async () => {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const reason = `the live stream could not take this subscription: ${'é'.repeat(100)}`;
    wss.on('connection', (ws) => new WsSubscriber(ws, FilterSet.parse({})).failed(reason));
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const [code, text] = await new Promise<[number, string]>((resolve) => client.once('close', (c, r) => resolve([c, r.toString()])));
    assert.equal(code, 1011);
    assert.ok(Buffer.byteLength(text) <= 123 && Buffer.byteLength(text) >= 122, `${Buffer.byteLength(text)} bytes`);
    assert.ok(reason.startsWith(text));
  } finally {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await new Promise((r) => server.close(r));
  }
});

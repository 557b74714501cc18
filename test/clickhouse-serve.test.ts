import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import WebSocket from 'ws';
import type { App } from '../src/app.js';
import { messageToJsonpb } from '../src/flows/jsonpb.js';
import type { JsonObject } from '../src/flows/jsonpb.js';
import type { FlowRecord } from '../src/flows/record.js';
import { GetFlowsResponseType } from '../src/flows/schema.js';
import { ObserverClient } from '../src/relay/observer-service.js';
import { TrafficGenerator } from '../src/sim/traffic.js';
import type { SimRelay } from '../src/sim/relay-server.js';
import { CLICKHOUSE_MIGRATIONS_DIR } from '../src/paths.js';
import { ClickHouseHttp } from '../src/store/clickhouse/http.js';
import { featuresOf, migrateClickHouse } from '../src/store/clickhouse/migrate.js';
import { ClickHouseFlowWriter } from '../src/store/clickhouse/writer.js';
import { KEEP_OLD_FLOWS, clickhouseArgs, clickhouseSkip, startClickHouse } from './helpers/clickhouse.js';
import type { ClickHouseServer } from './helpers/clickhouse.js';
import { CASES } from './helpers/filter-cases.js';
import { corpusLines, packBatch, simulatorResponse } from './helpers/fixtures.js';
import { canonical, pushGenerated, pushJsonLine, startSim, startTestApp, tempDir, waitFor } from './helpers/harness.js';
import { ALL_TIME, answerWithoutSource, flowId, parseNdjson, replayExamplePolicy } from './helpers/populated.js';
import { parsePromText } from './helpers/prom-text.js';

/**
 * `flowkeeper serve --store clickhouse` against a real ClickHouse server: the
 * same relay feeds a flowkeeper on SQLite and one on ClickHouse, and every face
 * (REST, cursors, WebSocket backfill, the Observer API, status) must answer
 * the same; ClickHouse going down pauses ingest, says so in /readyz and
 * metrics, and loses nothing once it is back.
 */
const skip = clickhouseSkip;
const GENERATED = 1500;

let server: ClickHouseServer | undefined;
let sim: SimRelay | undefined;
let sqlite: App | undefined;
let clickhouse: App | undefined;
let cleanup: (() => void) | undefined;
let total = 0;

/** Pushes the real fixtures, the drop examples and simulator traffic into a relay stand-in; returns how many. */
function feed(relay: SimRelay, generated: number, seed: number, startMs: number): number {
  const lines = corpusLines();
  for (const l of lines) pushJsonLine(relay, l);
  return lines.length + pushGenerated(relay, seed, generated, startMs, 10);
}

before(async () => {
  if (skip) return;
  const dir = tempDir();
  cleanup = dir.cleanup;
  server = await startClickHouse();
  const started = await startSim();
  sim = started.sim;
  total = feed(sim, GENERATED, 99, Date.now() - 10 * 60_000);
  sqlite = await startTestApp(started.port, join(dir.dir, 'fk.db'), KEEP_OLD_FLOWS);
  clickhouse = await startTestApp(started.port, join(dir.dir, 'unused.db'), [...KEEP_OLD_FLOWS, ...clickhouseArgs(server.url, 'fk_serve')]);
  const [a, b] = [sqlite, clickhouse];
  await waitFor('both stores hold every flow', () => a.pipeline.stats.stored === total && b.pipeline.stats.stored === total, 60_000);
});

after(async () => {
  await clickhouse?.stop();
  await sqlite?.stop();
  await sim?.close();
  await server?.stop();
  cleanup?.();
});

async function post(app: App, path: string, body: object): Promise<Response> {
  return fetch(`${app.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Every flow a query selects, following cursors when the query budget cut a page short. */
async function flowsOf(app: App, body: object): Promise<FlowRecord[]> {
  const out: FlowRecord[] = [];
  let cursor: string | null = null;
  do {
    const res = await post(app, '/api/v1/flows/query', { ...ALL_TIME, limit: 10_000, ...body, ...(cursor ? { cursor } : {}) });
    assert.equal(res.status, 200, await res.clone().text());
    out.push(...parseNdjson(await res.text()));
    cursor = res.headers.get('x-next-cursor');
  } while (cursor && out.length < 10_000);
  return out;
}

test('REST flows on ClickHouse equal those on SQLite, flow for flow, for every filter case', { skip }, async () => {
  const everything = await flowsOf(clickhouse!, {});
  assert.equal(everything.length, total);
  assert.deepEqual(everything.map(canonical), (await flowsOf(sqlite!, {})).map(canonical));
  for (const c of CASES) {
    const want = await flowsOf(sqlite!, c.body);
    const got = await flowsOf(clickhouse!, c.body);
    assert.deepEqual(got.map(flowId), want.map(flowId), c.name);
  }
  const drops = (await fetch(`${clickhouse!.url}/api/v1/flows?since=${ALL_TIME.since}&limit=10000&verdict=DROPPED&order=asc`).then((r) => r.text()));
  assert.deepEqual(parseNdjson(drops).map(flowId), (await flowsOf(sqlite!, { whitelist: [{ verdict: ['DROPPED'] }], order: 'asc' })).map(flowId));
});

test('cursor pages on ClickHouse add up to the whole answer; a cursor of the other engine is refused clearly', { skip }, async () => {
  const whole = await flowsOf(clickhouse!, { whitelist: [{ verdict: ['FORWARDED'] }] });
  const paged: FlowRecord[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const res = await post(clickhouse!, '/api/v1/flows/query', { ...ALL_TIME, limit: 97, whitelist: [{ verdict: ['FORWARDED'] }], ...(cursor ? { cursor } : {}) });
    assert.equal(res.status, 200);
    paged.push(...parseNdjson(await res.text()));
    cursor = res.headers.get('x-next-cursor') ?? undefined;
    if (!cursor) break;
  }
  assert.ok(whole.length > 97 * 3, 'several pages');
  assert.deepEqual(paged.map(flowId), whole.map(flowId));
  const sqliteCursor = (await post(sqlite!, '/api/v1/flows/query', { ...ALL_TIME, limit: 5 })).headers.get('x-next-cursor')!;
  const refused = await post(clickhouse!, '/api/v1/flows/query', { ...ALL_TIME, limit: 5, cursor: sqliteCursor });
  assert.equal(refused.status, 400);
  assert.match(((await refused.json()) as { message: string }).message, /cursor: was issued by a flowkeeper storing flows in SQLite/);
});

/** GetFlows over gRPC, every response decoded. */
function observe(app: App, req: Record<string, unknown>): Promise<JsonObject[]> {
  const c = new ObserverClient(app.observerAddress!, grpc.credentials.createInsecure()) as unknown as grpc.Client & { GetFlows: (r: object) => grpc.ClientReadableStream<Buffer> };
  return new Promise<JsonObject[]>((resolve, reject) => {
    const out: JsonObject[] = [];
    const call = c.GetFlows(req);
    call.on('data', (b: Buffer) => out.push(messageToJsonpb(GetFlowsResponseType, GetFlowsResponseType.decode(b) as unknown as Record<string, unknown>)));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  }).finally(() => c.close());
}

test('the Observer API on ClickHouse streams what it streams on SQLite (last N, since, filters, field mask)', { skip }, async () => {
  const requests: Record<string, unknown>[] = [
    { number: 50 },
    { number: 30, first: true, whitelist: [{ verdict: ['DROPPED'] }] },
    { since: { seconds: String(Math.floor(Date.now() / 1000) - 3600), nanos: 0 }, whitelist: [{ source_pod: ['kube-system/'] }] },
    { number: 10, experimental: { field_mask: { paths: ['time', 'verdict', 'source.namespace', 'not.a.field'] } } },
  ];
  for (const req of requests) {
    const want = await observe(sqlite!, req);
    const got = await observe(clickhouse!, req);
    assert.ok(want.length > 0, JSON.stringify(req));
    assert.deepEqual(got.map(canonical), want.map(canonical), JSON.stringify(req));
  }
});

test('GetNamespaces on ClickHouse names each namespace seen in the last hour with its cluster, as on SQLite', { skip }, async () => {
  type Namespaces = { namespaces: { cluster: string; namespace: string }[] };
  const namespaces = (app: App): Promise<Namespaces> => {
    const c = new ObserverClient(app.observerAddress!, grpc.credentials.createInsecure()) as unknown as grpc.Client & { GetNamespaces: (r: object, cb: (e: Error | null, r: Namespaces) => void) => void };
    return new Promise<Namespaces>((resolve, reject) => c.GetNamespaces({}, (e, r) => (e ? reject(e) : resolve(r)))).finally(() => c.close());
  };
  const want = (await namespaces(sqlite!)).namespaces;
  assert.ok(want.length > 3 && want.every((n) => n.cluster !== ''), JSON.stringify(want));
  // ClickHouse's facts are a snapshot, refreshed every 5 s.
  let got: Namespaces['namespaces'] = [];
  await waitFor('ClickHouse reports the same namespaces', async () => {
    got = (await namespaces(clickhouse!)).namespaces;
    return JSON.stringify(got) === JSON.stringify(want);
  }, 15_000).catch(() => undefined);
  assert.deepEqual(got, want);
});

test('the WebSocket stream\'s backfill on ClickHouse is the newest N, as on SQLite', { skip }, async () => {
  const backfill = (app: App): Promise<string[]> => new Promise((resolve, reject) => {
    const ws = new WebSocket(`${app.url.replace('http', 'ws')}/api/v1/flows/stream?last=25&verdict=DROPPED`);
    const keys: string[] = [];
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as { type: string; flow?: FlowRecord };
      if (m.type === 'flow') keys.push(flowId(m.flow!));
      if (m.type === 'backfill_done') {
        ws.close();
        resolve(keys);
      }
    });
    ws.on('error', reject);
  });
  const want = await backfill(sqlite!);
  assert.equal(want.length, 25);
  assert.deepEqual(await backfill(clickhouse!), want);
});

const AGGREGATES = [
  'group_by=verdict',
  'group_by=verdict,drop_reason&bucket=1m',
  'group_by=source_namespace,destination_namespace',
  'group_by=source_workload,destination_workload,destination_port,protocol&top=50',
  'group_by=policy,traffic_direction&verdict=DROPPED',
  'group_by=source_label:app,destination_label:app',
  'group_by=source_label:k8s-app&namespace=kube-system',
  'group_by=cluster,node,type',
  'group_by=destination_workload&not_verdict=FORWARDED&bucket=5m',
  'group_by=drop_reason&drop_reason_desc=POLICY_DENIED',
  // Filters the rollups cannot answer: raw flows are counted.
  'group_by=verdict,destination_port&ip=10.0.1.19',
  'group_by=source_workload,source_label:app&label=k8s:app=web&bucket=5m',
  'group_by=policy,cluster,node&not_namespace=kube-system',
  'group_by=destination_namespace&http_method=GET',
];

test('aggregates and the drops/denials views on ClickHouse (its own rollups) equal SQLite\'s', { skip }, async () => {
  // SQLite may scan raw flows (node, labels) where ClickHouse reads rollups: answers compare without their `source`.
  const answer = answerWithoutSource;
  for (const q of AGGREGATES) {
    const path = `/api/v1/aggregate?${q}&since=${ALL_TIME.since}`;
    const want = await answer(sqlite!, path);
    assert.ok(((want as { total: number }).total) > 0, `${q} counts something`);
    assert.deepEqual(await answer(clickhouse!, path), want, q);
  }
  for (const view of ['/api/v1/drops', '/api/v1/policy-denials']) {
    const path = `${view}?since=${ALL_TIME.since}`;
    assert.deepEqual(await answer(clickhouse!, path), await answer(sqlite!, path), view);
  }
});

test('status says which engine and server and what it lacks', { skip }, async () => {
  const app = clickhouse!;
  await waitFor('the facts snapshot counted every flow', async () => {
    const s = (await (await fetch(`${app.url}/api/v1/status`)).json()) as { store: { flows: number } };
    return s.store.flows === total;
  }, 20_000);
  const status = (await (await fetch(`${app.url}/api/v1/status`)).json()) as { store: Record<string, unknown> };
  // Each relay's newest stored flow, where it resumes: the same as SQLite's (these flows are dated minutes before they were stored).
  const sqliteStatus = (await (await fetch(`${sqlite!.url}/api/v1/status`)).json()) as { store: Record<string, unknown> };
  assert.ok(Object.keys(sqliteStatus.store.checkpoints as object).length > 0);
  assert.deepEqual(status.store.checkpoints, sqliteStatus.store.checkpoints);
  assert.equal(status.store.engine, 'clickhouse');
  assert.equal(status.store.database, 'fk_serve');
  assert.match(String(status.store.server), /^\d+\.\d+/);
  assert.ok(Array.isArray(status.store.missingFeatures));
  assert.deepEqual(status.store.relaysWrittenTwice, [], 'one flowkeeper stores this relay');
  const metrics = parsePromText(await (await fetch(`${app.url}/metrics`)).text());
  assert.equal(metrics.find((s) => s.name === 'flowkeeper_store_flows')?.value, total);
});

test('a relay two flowkeepers store at once is reported in status and metrics', { skip }, async () => {
  // Two writers' rows of one relay over the same recent seconds, as two instances following it leave them; then a flowkeeper on that database.
  const ch = new ClickHouseHttp({ url: server!.url, database: 'fk_shared', user: 'default', password: '', timeoutMs: 30_000 });
  await migrateClickHouse(ch, CLICKHOUSE_MIGRATIONS_DIR, featuresOf(await ch.version()));
  const gen = new TrafficGenerator(5);
  const messages: Buffer[] = [];
  for (let t = Date.now() - 30_000; messages.length < 200; t += 100) {
    for (const f of gen.next(t)) messages.push(simulatorResponse(f));
  }
  for (const writer of [new ClickHouseFlowWriter(ch, 5), new ClickHouseFlowWriter(ch, 5)]) {
    const { buf, offsets } = packBatch(messages);
    await writer.writeBatch('payments-relay', buf, offsets);
  }
  const relay = await startSim();
  const dir = tempDir();
  let app: App | null = null;
  try {
    app = await startTestApp(relay.port, join(dir.dir, 'unused.db'), clickhouseArgs(server!.url, 'fk_shared'));
    const status = (await (await fetch(`${app.url}/api/v1/status`)).json()) as { store: { relaysWrittenTwice: unknown } };
    assert.deepEqual(status.store.relaysWrittenTwice, [{ relay: 'payments-relay', writers: 2 }]);
    const metrics = parsePromText(await (await fetch(`${app.url}/metrics`)).text());
    assert.deepEqual(metrics.filter((m) => m.name === 'flowkeeper_store_relay_writers').map((m) => [m.labels.relay, m.value]), [['payments-relay', 2]]);
  } finally {
    await app?.stop();
    await relay.sim.close();
    dir.cleanup();
  }
});

test('policy replay and suggestions on ClickHouse report what they report on SQLite', { skip }, async () => {
  const policies = ['namespace-isolation.yaml', 'payments-api-ingress.yaml', 'catalog-three-tier.yaml', 'egress-baseline.yaml'];
  const until = new Date().toISOString();
  for (const file of policies) {
    const want = await replayExamplePolicy(sqlite!, file, until);
    assert.deepEqual(await replayExamplePolicy(clickhouse!, file, until), want, file);
  }
  const suggest = async (app: App): Promise<string> => (await fetch(`${app.url}/api/v1/policies/suggest?namespace=payments&since=${ALL_TIME.since}&until=${until}`)).text();
  assert.equal(await suggest(clickhouse!), await suggest(sqlite!));
});

test('flow metrics (all flows, drops, policy denials) on ClickHouse count what they count on SQLite', { skip }, async () => {
  const flowSamples = async (app: App): Promise<string[]> => parsePromText(await (await fetch(`${app.url}/metrics`)).text())
    .filter((s) => ['flowkeeper_flows_total', 'flowkeeper_dropped_flows_total', 'flowkeeper_policy_denied_flows_total'].includes(s.name))
    .map((s) => canonical(s)).sort();
  const want = await flowSamples(sqlite!);
  assert.ok(want.some((s) => s.includes('flowkeeper_policy_denied_flows_total') && !s.includes('default-deny')), 'a denial by a named policy');
  assert.ok(want.some((s) => s.includes('flowkeeper_dropped_flows_total')));
  assert.deepEqual(await flowSamples(clickhouse!), want);
});

test('lost_events and node_status from the relay are counted, stored and reported on ClickHouse as on SQLite', { skip }, async () => {
  const t = Math.floor(Date.now() / 1000);
  sim!.pushResponse({ lost_events: { source: 3, num_events_lost: 12 }, node_name: 'prod-eu1/node-a', time: { seconds: t, nanos: 0 } }, t, 0);
  sim!.pushResponse({ lost_events: { source: 1, num_events_lost: 5 }, node_name: 'prod-eu1/node-b', time: { seconds: t, nanos: 1 } }, t, 1);
  sim!.pushResponse({ lost_events: { source: 3, num_events_lost: 3 }, node_name: 'prod-eu1/node-a', time: { seconds: t, nanos: 2 } }, t, 2);
  sim!.pushResponse({ node_status: { state_change: 2, node_names: ['prod-eu1/node-c'], message: 'connection refused' }, time: { seconds: t, nanos: 3 } }, t, 3);
  type Lost = { relay: string; source: number; node: string; events: number }[];
  const stored = async (app: App): Promise<Lost> => ((await (await fetch(`${app.url}/api/v1/status`)).json()) as { lostEvents: Lost }).lostEvents;
  const lostMetric = async (app: App): Promise<string[]> => parsePromText(await (await fetch(`${app.url}/metrics`)).text())
    .filter((s) => s.name === 'flowkeeper_lost_events_total').map((s) => canonical(s)).sort();
  for (const app of [sqlite!, clickhouse!]) {
    await waitFor('lost events counted', () => (app.relays[0].status.lostEvents.HUBBLE_RING_BUFFER ?? 0) === 15, 20_000);
    assert.equal(app.relays[0].status.lostEvents.PERF_EVENT_RING_BUFFER, 5);
    assert.deepEqual(app.relays[0].status.nodeEvents.map((e) => [e.state, e.nodes]), [['NODE_UNAVAILABLE', ['prod-eu1/node-c']]]);
  }
  const want = await stored(sqlite!);
  assert.equal(want.length, 2);
  // ClickHouse's status reads them from its facts snapshot, refreshed every 5 s.
  await waitFor('ClickHouse stored the same lost events', async () => JSON.stringify(await stored(clickhouse!)) === JSON.stringify(want), 15_000).catch(() => undefined);
  assert.deepEqual(await stored(clickhouse!), want);
  assert.deepEqual(await lostMetric(clickhouse!), await lostMetric(sqlite!));
});

test('ClickHouse down: ingest pauses and says so in /readyz and metrics; back up: every flow stored exactly once', { skip, timeout: 120_000 }, async () => {
  const own = await startClickHouse();
  const relay = await startSim();
  const dir = tempDir();
  let app: App | null = null;
  try {
    app = await startTestApp(relay.port, join(dir.dir, 'unused.db'), [...KEEP_OLD_FLOWS, '--clickhouse-timeout', '2s', ...clickhouseArgs(own.url, 'fk_outage')]);
    const running = app;
    const before = feed(relay.sim, 200, 5, Date.now() - 5 * 60_000);
    await waitFor('the first flows stored', () => running.pipeline.stats.stored === before, 30_000);
    await own.kill();
    const during = pushGenerated(relay.sim, 11, 300, Date.now() - 60_000, 1);
    await waitFor('/readyz says storage fails', async () => (await fetch(`${running.url}/readyz`)).status === 503, 30_000);
    const ready = (await (await fetch(`${running.url}/readyz`)).json()) as { reason: string };
    assert.match(ready.reason, /storage failing since .*ClickHouse at http:\/\/127\.0\.0\.1:\d+ cannot be reached/);
    const failing = parsePromText(await (await fetch(`${running.url}/metrics`)).text()).find((s) => s.name === 'flowkeeper_storage_failing');
    assert.equal(failing?.value, 1);
    assert.ok(running.pipeline.stats.stored < before + during, 'nothing is counted stored while ClickHouse is down');
    await own.start();
    await waitFor('every flow stored once ClickHouse is back', () => running.pipeline.stats.stored === before + during, 60_000);
    assert.equal((await fetch(`${running.url}/readyz`)).status, 200);
    const stored = await flowsOf(running, {});
    const [row] = await fetch(`${own.url}/?database=fk_outage`, { method: 'POST', body: 'SELECT count() AS n, uniqExact(seq) AS seqs FROM flows FORMAT JSONEachRow' }).then((r) => r.text()).then((t) => t.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { n: string; seqs: string }));
    assert.deepEqual([Number(row.n), Number(row.seqs)], [before + during, before + during], 'ClickHouse holds each flow once');
    assert.equal(stored.length, before + during);
    // The fixtures repeat some flows without uuid; every simulator flow has one, and each is there once.
    const uuids = stored.map((f) => f.uuid).filter((u) => typeof u === 'string' && u !== '');
    assert.ok(uuids.length >= 500);
    assert.equal(new Set(uuids).size, uuids.length, 'no flow twice');
  } finally {
    await app?.stop();
    await relay.sim.close();
    await own.stop();
    dir.cleanup();
  }
});

test('relay batches are gathered into few ClickHouse inserts, and every flow is stored once', { skip, timeout: 60_000 }, async () => {
  const relay = await startSim();
  const dir = tempDir();
  let app: App | null = null;
  try {
    // Queued before flowkeeper connects, so they arrive as fast as it takes them: many 100-flow relay batches.
    const n = pushGenerated(relay.sim, 23, 3000, Date.now() - 60_000, 1);
    app = await startTestApp(relay.port, join(dir.dir, 'unused.db'), ['--batch-size', '100', '--clickhouse-insert-rows', '1000', ...clickhouseArgs(server!.url, 'fk_gather')]);
    const running = app;
    await waitFor('every flow stored', () => running.pipeline.stats.stored === n, 30_000);
    const ask = async <T>(sql: string): Promise<T> => JSON.parse(await (await fetch(`${server!.url}/?database=fk_gather`, { method: 'POST', body: `${sql} FORMAT JSONEachRow` })).text()) as T;
    // Each insert into a MergeTree table takes the next block number (one per day it spans): the newest is how many inserts there were.
    const { inserts } = await ask<{ inserts: string }>("SELECT max(max_block_number) AS inserts FROM system.parts WHERE database = 'fk_gather' AND table = 'flows'");
    const batches = running.pipeline.stats.batches;
    assert.ok(batches >= 30, `${batches} relay batches`);
    assert.ok(Number(inserts) <= 10, `${inserts} inserts for ${batches} relay batches of ${n} flows`);
    const { rows, seqs } = await ask<{ rows: string; seqs: string }>('SELECT count() AS rows, uniqExact(seq) AS seqs FROM flows');
    assert.deepEqual([Number(rows), Number(seqs)], [n, n]);
  } finally {
    await app?.stop();
    await relay.sim.close();
    dir.cleanup();
  }
});

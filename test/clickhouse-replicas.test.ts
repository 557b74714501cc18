import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { App } from '../src/app.js';
import { CLICKHOUSE_MIGRATIONS_DIR } from '../src/paths.js';
import { ClickHouseHttp } from '../src/store/clickhouse/http.js';
import { featuresOf, migrateClickHouse } from '../src/store/clickhouse/migrate.js';
import type { SimRelay } from '../src/sim/relay-server.js';
import { KEEP_OLD_FLOWS, clickhouseArgs, clickhouseSkip, startClickHouse } from './helpers/clickhouse.js';
import type { ClickHouseServer } from './helpers/clickhouse.js';
import { corpusLines } from './helpers/fixtures.js';
import { pushGenerated, pushJsonLine, startSim, startTestApp, tempDir, waitFor } from './helpers/harness.js';
import { ALL_TIME, flowsOver, answerWithoutSource, replayExamplePolicy, sortedIds } from './helpers/populated.js';
import { startZooKeeper, zookeeperSkip } from './helpers/zookeeper.js';
import type { ZooKeeperServer } from './helpers/zookeeper.js';

/**
 * --clickhouse-replicated against real servers: a ZooKeeper and two ClickHouse
 * replicas of one shard. One flowkeeper ingests into the first replica; a second,
 * whose relay stays idle, points at the second replica, creates the tables
 * there and answers from what replication brought; it still answers with the
 * first replica dead. A SQLite flowkeeper on the same relay is the reference.
 */

const skip = clickhouseSkip || zookeeperSkip;

let zookeeper: ZooKeeperServer | undefined;
const replicas: ClickHouseServer[] = [];
const relays: { sim: SimRelay; port: number }[] = [];
const apps: App[] = [];
let reference: App;
let ingester: App;
let reader: App;
let total = 0;
let cleanup: (() => void) | undefined;

const replicaArgs = (replica: ClickHouseServer): string[] => [...KEEP_OLD_FLOWS, ...clickhouseArgs(replica.url, 'fk'), '--clickhouse-replicated'];

before(async () => {
  if (skip) return;
  const t = tempDir();
  cleanup = t.cleanup;
  zookeeper = await startZooKeeper();
  for (const name of ['r1', 'r2']) replicas.push(await startClickHouse({ replica: { zookeeperPort: zookeeper.port, shard: '1', replica: name } }));
  for (let i = 0; i < 2; i++) relays.push(await startSim());
  const [busy, idle] = relays;
  for (const l of corpusLines()) {
    pushJsonLine(busy.sim, l);
    total++;
  }
  total += pushGenerated(busy.sim, 31, 1500, Date.now() - 5 * 60_000, 10);
  const start = async (relayPort: number, extra: string[]): Promise<App> => {
    const app = await startTestApp(relayPort, join(t.dir, `unused-${apps.length}.db`), extra);
    apps.push(app);
    return app;
  };
  reference = await start(busy.port, KEEP_OLD_FLOWS);
  ingester = await start(busy.port, replicaArgs(replicas[0]));
  reader = await start(idle.port, [...replicaArgs(replicas[1]), '--relay', `idle=127.0.0.1:${idle.port}`]);
  await waitFor('every flow stored', () => reference.pipeline.stats.stored === total && ingester.pipeline.stats.stored === total, 60_000);
});

after(async () => {
  for (const app of apps.splice(0)) await app.stop();
  for (const r of relays) await r.sim.close();
  for (const r of replicas) await r.stop();
  await zookeeper?.stop();
  cleanup?.();
});

const get = (app: App, path: string): Promise<Response> => fetch(`${app.url}${path}`);
const storedFlows = async (app: App): Promise<number> => ((await (await get(app, '/api/v1/status')).json()) as { store: { flows: number } }).store.flows;

test('the tables are replicated: the other replica holds every flow and rollup the ingester stored', { skip }, async () => {
  const engines = await (await fetch(`${replicas[1].url}/?database=fk`, { method: 'POST', body: "SELECT name, engine FROM system.tables WHERE database = 'fk' AND engine LIKE '%MergeTree' ORDER BY name FORMAT TSV" })).text();
  assert.deepEqual(engines.trim().split('\n'), ['flows\tReplicatedMergeTree', 'flows_1m\tReplicatedSummingMergeTree', 'label_sets\tReplicatedReplacingMergeTree', 'lost_events\tReplicatedMergeTree']);
  await waitFor('the second replica holds every flow', async () => (await storedFlows(reader)) === total, 30_000);
  for (const query of ['', 'verdict=DROPPED', 'namespace=kube-system&order=asc']) {
    assert.deepEqual(sortedIds(await flowsOver(reader, query)), sortedIds(await flowsOver(reference, query)), query || 'all');
  }
  const aggregate = (app: App): Promise<unknown> => answerWithoutSource(app, `/api/v1/aggregate?group_by=verdict,source_namespace&since=${ALL_TIME.since}`);
  await waitFor('the rollups replicated too', async () => JSON.stringify(await aggregate(reader)) === JSON.stringify(await aggregate(reference)), 30_000);
  const until = new Date().toISOString();
  assert.deepEqual(await replayExamplePolicy(reader, 'namespace-isolation.yaml', until), await replayExamplePolicy(reference, 'namespace-isolation.yaml', until));
});

test('with the ingester\'s replica dead, the other replica still answers every flow', { skip }, async () => {
  await replicas[0].kill();
  try {
    assert.deepEqual(sortedIds(await flowsOver(reader, '')), sortedIds(await flowsOver(reference, '')));
  } finally {
    await replicas[0].start();
  }
});

test('tables are never converted: a replicated database without the option, or a plain one with it, is refused by name', { skip }, async () => {
  const plain = new ClickHouseHttp({ url: replicas[1].url, database: 'fk', user: 'default', password: '', timeoutMs: 10_000 });
  const features = featuresOf(await plain.version());
  await assert.rejects(migrateClickHouse(plain, CLICKHOUSE_MIGRATIONS_DIR, features), /fk\.flows is ReplicatedMergeTree: start flowkeeper with --clickhouse-replicated/);
  const other = new ClickHouseHttp({ ...plain.settings, database: 'fk_plain' });
  await migrateClickHouse(other, CLICKHOUSE_MIGRATIONS_DIR, features);
  await assert.rejects(migrateClickHouse(new ClickHouseHttp({ ...other.settings, replicated: true }), CLICKHOUSE_MIGRATIONS_DIR, features), /fk_plain\.flows exists as MergeTree, not replicated/);
});

test('--clickhouse-replicated against a server without ZooKeeper or macros is a clear error', { skip }, async () => {
  const lone = await startClickHouse();
  try {
    const ch = new ClickHouseHttp({ url: lone.url, database: 'fk', user: 'default', password: '', timeoutMs: 10_000, replicated: true });
    await assert.rejects(migrateClickHouse(ch, CLICKHOUSE_MIGRATIONS_DIR, featuresOf(await ch.version())), /--clickhouse-replicated: the server at .* defines no shard and replica macro/);
  } finally {
    await lone.stop();
  }
});

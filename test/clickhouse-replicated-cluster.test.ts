import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { App } from '../src/app.js';
import type { SimRelay } from '../src/sim/relay-server.js';
import { KEEP_OLD_FLOWS, clickhouseArgs, clickhouseSkip, startClickHouseCluster } from './helpers/clickhouse.js';
import type { ClickHouseServer } from './helpers/clickhouse.js';
import { pushGenerated, startSim, startTestApp, tempDir, waitFor } from './helpers/harness.js';
import { ALL_TIME, answerWithoutSource, flowsOver, sortedIds } from './helpers/populated.js';
import { startZooKeeper, zookeeperSkip } from './helpers/zookeeper.js';
import type { ZooKeeperServer } from './helpers/zookeeper.js';

/**
 * --clickhouse-cluster and --clickhouse-replicated together, as a production
 * fleet runs them: two shards of two replicas each (four ClickHouse servers and
 * a ZooKeeper). Two flowkeepers ingest, each its relay into the first replica
 * of its shard; a third, with an idle relay, answers for the cluster from a
 * second replica, and a fourth creates the tables on the other second replica.
 * The querier's answers equal a SQLite flowkeeper's on both relays, and still
 * do with both ingesters' replicas dead.
 */

const skip = clickhouseSkip || zookeeperSkip;

let zookeeper: ZooKeeperServer | undefined;
let servers: ClickHouseServer[] = [];
const relays: { sim: SimRelay; port: number }[] = [];
const apps: App[] = [];
let reference: App;
let querier: App;
let total = 0;
let cleanup: (() => void) | undefined;

/** Pushes `count` simulator flows (seed `seed`) from a few minutes ago into a relay stand-in. */
function feed(relay: SimRelay, seed: number, count: number): number {
  return pushGenerated(relay, seed, count, Date.now() - 6 * 60_000, 10);
}

before(async () => {
  if (skip) return;
  const t = tempDir();
  cleanup = t.cleanup;
  zookeeper = await startZooKeeper();
  // Shard by shard: [shard 1 r1, shard 1 r2, shard 2 r1, shard 2 r2].
  servers = await startClickHouseCluster('fleet', 2, { replicas: 2, zookeeperPort: zookeeper.port });
  for (let i = 0; i < 3; i++) relays.push(await startSim());
  const [a, b, idle] = relays;
  total = feed(a.sim, 41, 900) + feed(b.sim, 42, 700);
  const start = async (relayPort: number, extra: string[]): Promise<App> => {
    const app = await startTestApp(relayPort, join(t.dir, `unused-${apps.length}.db`), extra);
    apps.push(app);
    return app;
  };
  const fleet = (server: ClickHouseServer, relay: string, port: number): string[] =>
    [...KEEP_OLD_FLOWS, ...clickhouseArgs(server.url, 'fk'), '--clickhouse-cluster', 'fleet', '--clickhouse-replicated', '--relay', `${relay}=127.0.0.1:${port}`];
  reference = await start(a.port, [...KEEP_OLD_FLOWS, '--relay', `a=127.0.0.1:${a.port},b=127.0.0.1:${b.port}`]);
  const ingesters = [await start(a.port, fleet(servers[0], 'a', a.port)), await start(b.port, fleet(servers[2], 'b', b.port))];
  querier = await start(idle.port, fleet(servers[1], 'idle', idle.port));
  await start(idle.port, fleet(servers[3], 'idle', idle.port));
  await waitFor('every flow stored', () => reference.pipeline.stats.stored === total && ingesters[0].pipeline.stats.stored + ingesters[1].pipeline.stats.stored === total, 60_000);
});

after(async () => {
  for (const app of apps.splice(0)) await app.stop();
  for (const r of relays) await r.sim.close();
  for (const s of servers) await s.stop();
  await zookeeper?.stop();
  cleanup?.();
});

const aggregate = (app: App): Promise<unknown> => answerWithoutSource(app, `/api/v1/aggregate?group_by=verdict,source_namespace,destination_namespace&since=${ALL_TIME.since}`);

test('a querier on a second replica answers for both shards what SQLite answers for both relays', { skip }, async () => {
  // Replication copies the parts to the second replicas (in the background).
  await waitFor('every flow through the querier', async () => (await flowsOver(querier, '')).length === total, 30_000);
  for (const query of ['', 'verdict=DROPPED', 'namespace=kube-system&order=asc']) {
    const want = sortedIds(await flowsOver(reference, query));
    assert.ok(want.length > 0, query || 'all');
    assert.deepEqual(sortedIds(await flowsOver(querier, query)), want, query || 'all');
  }
  await waitFor('the rollups through the querier', async () => JSON.stringify(await aggregate(querier)) === JSON.stringify(await aggregate(reference)), 30_000).catch(() => undefined);
  assert.deepEqual(await aggregate(querier), await aggregate(reference));
});

test('with both ingesters\' replicas dead, the querier still answers every flow and aggregate from the other replicas', { skip }, async () => {
  await servers[0].kill();
  await servers[2].kill();
  try {
    assert.deepEqual(sortedIds(await flowsOver(querier, '')), sortedIds(await flowsOver(reference, '')));
    assert.deepEqual(await aggregate(querier), await aggregate(reference));
  } finally {
    await servers[0].start();
    await servers[2].start();
  }
});

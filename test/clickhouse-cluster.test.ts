import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { App } from '../src/app.js';
import type { SimRelay } from '../src/sim/relay-server.js';
import { KEEP_OLD_FLOWS, clickhouseArgs, clickhouseSkip, startClickHouseCluster } from './helpers/clickhouse.js';
import type { ClickHouseServer } from './helpers/clickhouse.js';
import { corpusLines } from './helpers/fixtures.js';
import { pushGenerated, pushJsonLine, startSim, startTestApp, tempDir, waitFor } from './helpers/harness.js';
import { ALL_TIME, answerWithoutSource, flowsOver, replayExamplePolicy, sortedIds } from './helpers/populated.js';

/**
 * Scale-out on real servers: two ClickHouse shards that know each other as
 * cluster "flows", two flowkeepers each ingesting its own relay into its own
 * shard, and a third answering through the Distributed tables for both. A
 * flowkeeper on SQLite following both relays gives the answers to match.
 */
const skip = clickhouseSkip;

let shards: ClickHouseServer[] = [];
const relays: { sim: SimRelay; port: number }[] = [];
const apps: App[] = [];
let reference: App;
let ingesters: App[];
let querier: App;
let total = 0;
let cleanup: (() => void) | undefined;
let dir = '';

function feed(relay: SimRelay, seed: number, generated: number, withFixtures: boolean): number {
  let n = 0;
  if (withFixtures) {
    for (const l of corpusLines()) {
      pushJsonLine(relay, l);
      n++;
    }
  }
  return n + pushGenerated(relay, seed, generated, Date.now() - 8 * 60_000 + seed, 10);
}

const shardArgs = (shard: ClickHouseServer): string[] => [...KEEP_OLD_FLOWS, ...clickhouseArgs(shard.url, 'fk'), '--clickhouse-cluster', 'flows'];

async function start(relayPort: number, extra: string[]): Promise<App> {
  const app = await startTestApp(relayPort, join(dir, `unused-${apps.length}.db`), extra);
  apps.push(app);
  return app;
}

before(async () => {
  if (skip) return;
  const t = tempDir();
  cleanup = t.cleanup;
  dir = t.dir;
  shards = await startClickHouseCluster('flows', 2);
  for (let i = 0; i < 3; i++) relays.push(await startSim());
  total = feed(relays[0].sim, 1, 800, true) + feed(relays[1].sim, 2, 1200, false);
  const [a, b, idle] = relays;
  reference = await start(a.port, [...KEEP_OLD_FLOWS, '--relay', `a=127.0.0.1:${a.port},b=127.0.0.1:${b.port}`]);
  ingesters = [await start(a.port, [...shardArgs(shards[0]), '--relay', `a=127.0.0.1:${a.port}`]), await start(b.port, [...shardArgs(shards[1]), '--relay', `b=127.0.0.1:${b.port}`])];
  // The third flowkeeper ingests nothing (its relay stays empty) and answers for the cluster.
  querier = await start(idle.port, [...shardArgs(shards[0]), '--relay', `idle=127.0.0.1:${idle.port}`]);
  await waitFor('every flow stored', () => reference.pipeline.stats.stored === total && ingesters[0].pipeline.stats.stored + ingesters[1].pipeline.stats.stored === total, 60_000);
});

after(async () => {
  for (const app of apps.splice(0)) await app.stop();
  for (const r of relays) await r.sim.close();
  for (const s of shards) await s.stop();
  cleanup?.();
});

async function get(app: App, path: string): Promise<Response> {
  const res = await fetch(`${app.url}${path}`);
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  return res;
}


/** Flows of a shard's own table (what that server holds, not the cluster). */
async function shardCount(shard: ClickHouseServer): Promise<number> {
  const res = await fetch(`${shard.url}/?database=fk`, { method: 'POST', body: 'SELECT count() FROM flows' });
  return Number((await res.text()).trim());
}

test('each shard holds its own relay\'s flows; any flowkeeper of the cluster answers for all of them', { skip }, async () => {
  assert.deepEqual([await shardCount(shards[0]), await shardCount(shards[1])], [ingesters[0].pipeline.stats.stored, ingesters[1].pipeline.stats.stored]);
  assert.ok(ingesters[0].pipeline.stats.stored > 0 && ingesters[1].pipeline.stats.stored > 0);
  for (const query of ['', 'verdict=DROPPED', 'namespace=kube-system&order=asc', 'ip=10.0.1.19']) {
    const want = await flowsOver(reference, query);
    for (const app of [querier, ...ingesters]) {
      const got = await flowsOver(app, query);
      assert.deepEqual(sortedIds(got), sortedIds(want), `${query || 'all'} via ${app.url}`);
      const times = got.map((f) => Date.parse(f.time));
      const inOrder = query.includes('order=asc') ? times.every((t, i) => i === 0 || times[i - 1] <= t) : times.every((t, i) => i === 0 || times[i - 1] >= t);
      assert.ok(inOrder, 'in time order across shards');
    }
  }
});

test('aggregates and views through the Distributed rollups equal the reference', { skip }, async () => {
  for (const path of ['/api/v1/aggregate?group_by=verdict,source_namespace', '/api/v1/aggregate?group_by=policy&verdict=DROPPED&bucket=1m', '/api/v1/drops']) {
    const allTime = `${path}${path.includes('?') ? '&' : '?'}since=${ALL_TIME.since}`;
    assert.deepEqual(await answerWithoutSource(querier, allTime), await answerWithoutSource(reference, allTime), path);
  }
  await waitFor('the querier\'s status counts the cluster', async () => ((await (await get(querier, '/api/v1/status')).json()) as { store: { flows: number } }).store.flows === total, 20_000);
  // Its facts read through the Distributed tables without error; two ingesters of two relays are not one relay stored twice.
  const { store } = (await (await get(querier, '/api/v1/status')).json()) as { store: { refreshError: string | null; relaysWrittenTwice: unknown[] } };
  assert.equal(store.refreshError, null);
  assert.deepEqual(store.relaysWrittenTwice, []);
  // Its disk figure is every shard's too (parts merge meanwhile: both sides are read again until they agree).
  const shardBytes = async (shard: ClickHouseServer): Promise<number> =>
    Number((await (await fetch(`${shard.url}/?database=fk`, { method: 'POST', body: "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'fk' AND table = 'flows' AND active" })).text()).trim());
  let seen = 0;
  let want = 0;
  await waitFor('the querier\'s disk bytes are both shards\'', async () => {
    seen = ((await (await get(querier, '/api/v1/status')).json()) as { store: { usedBytes: number } }).store.usedBytes;
    want = (await shardBytes(shards[0])) + (await shardBytes(shards[1]));
    return seen === want;
  }, 20_000).catch(() => undefined);
  assert.ok(want > (await shardBytes(shards[0])), 'both shards hold flows');
  assert.equal(seen, want);
});

test('policy replay through the Distributed table (classes grouped on every shard) reports what the reference reports', { skip }, async () => {
  const until = new Date().toISOString();
  for (const file of ['namespace-isolation.yaml', 'egress-baseline.yaml']) {
    assert.deepEqual(await replayExamplePolicy(querier, file, until), await replayExamplePolicy(reference, file, until), file);
  }
});

test('an ingester restarted resumes from its shard: no flow twice, none lost', { skip }, async () => {
  const [first] = ingesters;
  const shard0 = await shardCount(shards[0]);
  await first.stop();
  apps.splice(apps.indexOf(first), 1);
  const added = feed(relays[0].sim, 3, 300, false);
  const again = await start(relays[0].port, [...shardArgs(shards[0]), '--relay', `a=127.0.0.1:${relays[0].port}`]);
  await waitFor('the reference has the new flows', () => reference.pipeline.stats.stored === total + added, 30_000);
  await waitFor('the restarted ingester stored the new flows', async () => (await shardCount(shards[0])) === shard0 + added, 30_000);
  // The insert is visible in ClickHouse a moment before the writer thread's report of that batch reaches the pipeline.
  await waitFor('the relay\'s replayed overlap was recognised', () => again.pipeline.stats.duplicates > 0 && again.pipeline.stats.stored === added, 10_000);
  const all = await flowsOver(querier, '');
  assert.equal(all.length, total + added);
  const uuids = all.map((f) => f.uuid).filter((u) => typeof u === 'string' && u !== '');
  assert.equal(new Set(uuids).size, uuids.length, 'no flow twice');
});

test('a cluster this server does not know is a clear error at start', { skip }, async () => {
  const idle = relays[2];
  await assert.rejects(
    startTestApp(idle.port, join(dir, 'x.db'), [...clickhouseArgs(shards[1].url, 'fk2'), '--clickhouse-cluster', 'nope']),
    /--clickhouse-cluster: "nope" is not a cluster of this ClickHouse server \(its remote_servers define: .*flows \(2 shards\)/,
  );
});

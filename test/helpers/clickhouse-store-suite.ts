import { after, before, test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { toResponseJson } from '../../src/flows/record.js';
import type { FlowRecord, FlowTime } from '../../src/flows/record.js';
import { GetFlowsResponseType } from '../../src/flows/schema.js';
import { CLICKHOUSE_MIGRATIONS_DIR, MIGRATIONS_DIR } from '../../src/paths.js';
import { Deadline } from '../../src/query/deadline.js';
import { FilterSet } from '../../src/query/filter.js';
import { QueryService } from '../../src/store/sqlite/queries.js';
import { DEFAULT_QUERY_LIMITS } from '../../src/query/limits.js';
import { queryClickHouseFlows } from '../../src/store/clickhouse/flows.js';
import type { ClickHouseFlowPage, ClickHousePosition } from '../../src/store/clickhouse/flows.js';
import { parseTimestamp } from '../../src/flows/jsonpb.js';
import { toNanos } from '../../src/query/time.js';
import { ClickHouseHttp } from '../../src/store/clickhouse/http.js';
import { ClickHouseQueries } from '../../src/store/clickhouse/queries.js';
import { ClickHouseFacts } from '../../src/store/clickhouse/facts.js';
import { parseGroupBy } from '../../src/query/aggregate.js';
import { featuresOf, migrateClickHouse } from '../../src/store/clickhouse/migrate.js';
import { dropExpiredPartitions } from '../../src/store/clickhouse/retention.js';
import { ClickHouseFlowWriter, InsertGroup } from '../../src/store/clickhouse/writer.js';
import { clickhouseFlowClasses, groupedClasses, scannedClasses } from '../../src/store/clickhouse/flow-classes.js';
import { mergeFlowClasses } from '../../src/store/flow-classes.js';
import type { FlowClasses } from '../../src/store/flow-classes.js';
import { timeSlices } from '../../src/policy/run.js';
import { uuidHash } from '../../src/store/clickhouse/uuid-hash.js';
import { migrate } from '../../src/store/sqlite/migrate.js';
import { FlowReader } from '../../src/store/sqlite/reader.js';
import { openDatabase } from '../../src/store/sqlite/sqlite.js';
import type { Db } from '../../src/store/sqlite/sqlite.js';
import { FlowWriter } from '../../src/store/sqlite/writer.js';
import { TrafficGenerator } from '../../src/sim/traffic.js';
import { CASES } from './filter-cases.js';
import { corpusLines, encodeResponse, packBatch, simulatorResponse } from './fixtures.js';
import { tempDir, waitFor } from './harness.js';

/**
 * ClickHouse against SQLite on the same flows: the real fixture flows, the
 * drop examples, the synthetic flows and simulator traffic go into a real
 * ClickHouse and a real SQLite file, and every filter case must select the
 * same flows, in the same order, saying the same thing, from both. Run on a
 * ClickHouse 18.16 server (clickhouse-store.test.ts) and on ClickHouse 26.7
 * in-process (clickhouse-current.test.ts).
 */

/** A ClickHouse the suite runs on. */
export interface ClickHouseTarget {
  /** Put before each test's name. */
  label: string;
  skip: string | false;
  /** A server process reached over HTTP, which the suite may kill and start again. */
  server: boolean;
  open(): Promise<OpenTarget>;
}

export interface OpenTarget {
  /** A client of `database` on this ClickHouse. */
  client(database: string): ClickHouseHttp;
  /** For a server: kill it (SIGKILL), and start it again on its files. */
  kill?(): Promise<void>;
  start?(): Promise<void>;
  close(): Promise<void>;
}

const RELAY = 'test';

function corpus(): Buffer[] {
  const messages = corpusLines().map(encodeResponse);
  const gen = new TrafficGenerator(7);
  const start = Date.now() - 10 * 60_000;
  for (let n = 0; n < 2000;) {
    for (const f of gen.next(start + n * 10)) {
      messages.push(simulatorResponse(f));
      n++;
    }
  }
  return messages;
}

const ALL: { since: FlowTime; until: FlowTime } = { since: { seconds: 1_600_000_000, nanos: 0 }, until: { seconds: Math.floor(Date.now() / 1000) + 3600, nanos: 0 } };

export function clickhouseStoreSuite(target: ClickHouseTarget): void {
const { skip } = target;
const test = (name: string, options: { skip: string | false }, fn: () => Promise<void>): void => {
  nodeTest(target.label + name, options, fn);
};
let opened: OpenTarget | undefined;
let ch: ClickHouseHttp;
let db: Db;
let sqlite: QueryService;
let messages: Buffer[];
let cleanup: (() => void) | undefined;

before(async () => {
  if (skip) return;
  messages = corpus();
  const dir = tempDir();
  cleanup = dir.cleanup;
  db = openDatabase(join(dir.dir, 'fk.db'));
  migrate(db, MIGRATIONS_DIR);
  const sqliteWriter = new FlowWriter(db, 5);
  opened = await target.open();
  ch = opened.client('flowkeeper_test');
  await migrateClickHouse(ch, CLICKHOUSE_MIGRATIONS_DIR, featuresOf(await ch.version()));
  const writer = new ClickHouseFlowWriter(ch, 5);
  for (let i = 0; i < messages.length; i += 500) {
    const { buf, offsets } = packBatch(messages.slice(i, i + 500));
    sqliteWriter.writeBatch(RELAY, buf, offsets);
    await writer.writeBatch(RELAY, buf, offsets);
  }
  sqlite = new QueryService(db, new FlowReader(db), 60_000, DEFAULT_QUERY_LIMITS, { onEventLoop: false });
});

after(async () => {
  db?.close();
  await opened?.close();
  cleanup?.();
});

/** What an answer says, flow by flow: the NDJSON line each flow becomes. */
const lines = (flows: FlowRecord[]): string[] => flows.map((f) => JSON.stringify(toResponseJson(f)));

function fromSqlite(body: object, order: 'asc' | 'desc' = 'asc', limit = 100_000): FlowRecord[] {
  return sqlite.flows({ filters: FilterSet.parse(body), ...ALL, order, limit, after: null }).flows;
}

async function fromClickHouse(body: object, order: 'asc' | 'desc' = 'asc', limit = 100_000, after: ClickHousePosition | null = null, budgetMs = 30_000, range = ALL) {
  return queryClickHouseFlows(ch, { filters: FilterSet.parse(body), ...range, order, limit, after, deadline: Deadline.in(budgetMs), read: (f) => f.record() });
}

/** Every page of a query, each asked from where the one before ended (at most `maxPages`), and how many came back cut short. */
async function allPages(page: (after: ClickHousePosition | null) => Promise<ClickHouseFlowPage<FlowRecord>>, maxPages: number): Promise<{ flows: FlowRecord[]; truncated: number }> {
  const flows: FlowRecord[] = [];
  let truncated = 0;
  let after: ClickHousePosition | null = null;
  for (let pages = 0; pages < maxPages; pages++) {
    const p = await page(after);
    flows.push(...p.flows);
    if (p.truncated) truncated++;
    if (!p.next) break;
    after = p.next;
  }
  return { flows, truncated };
}

test('ClickHouse holds every flow SQLite holds, in the same order, saying the same', { skip }, async () => {
  const all = fromSqlite({});
  assert.equal(all.length, messages.length);
  assert.deepEqual(lines((await fromClickHouse({})).flows), lines(all));
  assert.deepEqual(lines((await fromClickHouse({}, 'desc')).flows), lines(fromSqlite({}, 'desc')));
});

for (const c of CASES) {
  test(`ClickHouse = SQLite: ${c.name}`, { skip }, async () => {
    const want = fromSqlite(c.body);
    if (!c.allowEmpty) assert.ok(want.length > 0, 'the case selects something');
    const got = await fromClickHouse(c.body);
    assert.deepEqual(lines(got.flows), lines(want));
  });
}

/** Aggregates, from the rollups ClickHouse keeps (its materialized view) or, for filters they cannot answer, from raw flows. */
const AGGREGATES: { groupBy: string; body?: object; bucket?: number; top?: number }[] = [
  { groupBy: 'verdict' },
  { groupBy: 'verdict,drop_reason', bucket: 1 },
  { groupBy: 'source_namespace,destination_namespace' },
  { groupBy: 'source_workload,destination_workload,destination_port,protocol', top: 50 },
  { groupBy: 'policy,traffic_direction', body: { whitelist: [{ verdict: ['DROPPED'] }] } },
  { groupBy: 'source_label:app,destination_label:app' },
  { groupBy: 'cluster,node,type' },
  { groupBy: 'destination_workload', body: { blacklist: [{ verdict: ['FORWARDED'] }] }, bucket: 5 },
  // Filters the rollups cannot answer: raw flows are counted.
  { groupBy: 'verdict,destination_port', body: { whitelist: [{ source_ip: ['10.0.1.0/24'] }] } },
  { groupBy: 'destination_namespace,source_label:app', body: { whitelist: [{ http_method: ['GET'] }] }, bucket: 5 },
];

test('aggregates equal SQLite\'s, group for group, from the rollups and from raw flows', { skip }, async () => {
  const engine = new ClickHouseQueries(ch, 30_000);
  // The last hour (the simulator's flows): SQLite counts groupings by node or labels from raw flows, whose range is limited.
  const lastHour = { since: { seconds: Math.floor(Date.now() / 1000) - 3600, nanos: 0 }, until: ALL.until };
  for (const a of AGGREGATES) {
    const filters = FilterSet.parse(a.body ?? {});
    const raw = a.body !== undefined && /ip|http/.test(JSON.stringify(a.body));
    const req = { filters, dims: parseGroupBy(a.groupBy), ...lastHour, bucketMinutes: a.bucket ?? null, top: a.top ?? 10 };
    const { source: _sqliteSource, ...want } = sqlite.aggregate(req);
    const { source, ...got } = await engine.aggregate(req, null);
    assert.ok(want.total > 0, `${a.groupBy} counts something`);
    assert.equal(source, raw ? 'raw' : 'rollup', a.groupBy);
    assert.deepEqual(got, want, a.groupBy);
  }
});

test('flow classes of consecutive time slices merge into the classes of the whole range (replay reads slices on both query threads)', { skip }, async () => {
  // The simulator flows (the corpus' last 2,000, over ~20 s): cut in two, both halves hold the same kinds of flows.
  const timeOf = (m: Buffer): FlowTime => {
    const t = (GetFlowsResponseType.decode(m) as unknown as { flow: { time: { seconds: number | { toNumber(): number }; nanos: number } } }).flow.time;
    return { seconds: typeof t.seconds === 'number' ? t.seconds : t.seconds.toNumber(), nanos: t.nanos };
  };
  const since = timeOf(messages[messages.length - 2000]);
  const until = timeOf(messages[messages.length - 1]);
  const request = (a: FlowTime, b: FlowTime) => ({ filters: FilterSet.parse({}), since: a, until: b, withHeaders: false, maxClasses: 100_000, budgetMs: 30_000 });
  const whole = await clickhouseFlowClasses(ch, request(since, until), null);
  const halves = await Promise.all(timeSlices(since, until, 2).map(([a, b]) => clickhouseFlowClasses(ch, request(a, b), null)));
  assert.ok(halves.every((h) => h.flows > 500), 'both slices hold flows');
  const shared = halves[0].classes.filter((c) => halves[1].classes.some((d) => d.key === c.key)).length;
  assert.ok(shared > 10, `classes seen in both slices: ${shared}`);
  const summary = (classes: FlowClasses) => classes.classes.map((c) => `${c.key} ${c.flows} ${c.first.seconds}.${c.first.nanos} ${c.last.seconds}.${c.last.nanos}`).sort();
  assert.equal(whole.flows, halves[0].flows + halves[1].flows);
  assert.deepEqual(summary(mergeFlowClasses(halves)), summary(whole));
  // The same classes as SQLite finds, flow counts included (keys differ: SQLite's name dictionary ids).
  const counts = (classes: FlowClasses) => classes.classes.map((c) => c.flows).sort((x, y) => x - y);
  assert.deepEqual(counts(whole), counts(sqlite.flowClasses(request(since, until), null) as FlowClasses));
});

test('flow classes grouped in ClickHouse equal the classes a scan finds; rows stored before class_hash send replay back to the scan', { skip }, async () => {
  const db = opened!.client('flowkeeper_classes');
  try {
    await migrateClickHouse(db, CLICKHOUSE_MIGRATIONS_DIR, featuresOf(await ch.version()));
    const writer = new ClickHouseFlowWriter(db, 5);
    const { buf, offsets } = packBatch(messages);
    await writer.writeBatch(RELAY, buf, offsets);
    const request = { filters: FilterSet.parse({}), ...ALL, withHeaders: false, maxClasses: 100_000, budgetMs: 30_000 };
    const summary = (classes: FlowClasses) => classes.classes.map((c) => `${c.key} ${c.flows} ${c.first.seconds}.${c.first.nanos} ${c.last.seconds}.${c.last.nanos} ${JSON.stringify(c.sample)}`).sort();
    const grouped = await groupedClasses(db, request, Deadline.in(30_000));
    assert.ok(grouped, 'ClickHouse groups the range itself');
    assert.equal(grouped.flows, messages.length);
    assert.deepEqual(summary(grouped), summary(await scannedClasses(db, request, Deadline.in(30_000))));
    assert.deepEqual(summary(await clickhouseFlowClasses(db, request, null)), summary(grouped));
    // The hash leaves HTTP headers out: a rule on headers is answered by the scan.
    assert.equal(await groupedClasses(db, { ...request, withHeaders: true }, Deadline.in(30_000)), null);
    // A row as stored before migration 006 (class_hash 0): a copy of the newest flow under a new seq.
    await db.command('INSERT INTO flows (time_ns, seq, relay, response) SELECT time_ns, seq + 1, relay, response FROM flows ORDER BY time_ns DESC, seq DESC LIMIT 1');
    assert.equal(await groupedClasses(db, request, Deadline.in(30_000)), null, 'a row without class_hash is left to the scan');
    const mixed = await clickhouseFlowClasses(db, request, null);
    assert.equal(mixed.flows, messages.length + 1);
    assert.equal(mixed.classes.length, grouped.classes.length, 'the old row joins its class, as a scan counts it');
  } finally {
    await db.command('DROP DATABASE IF EXISTS flowkeeper_classes');
  }
});

test('pages with a position continue exactly where the last one ended, both ways, as SQLite pages do', { skip }, async () => {
  const body = { whitelist: [{ verdict: ['DROPPED'] }, { source_pod: ['kube-system/'] }] };
  for (const order of ['asc', 'desc'] as const) {
    const want = fromSqlite(body, order);
    assert.ok(want.length > 40, `enough flows to page through (${want.length})`);
    const { flows: got } = await allPages((after) => fromClickHouse(body, order, 17, after), 1000);
    assert.deepEqual(lines(got), lines(want), order);
  }
});

test('a range whose ends cut through minutes pages the same: the rollups only size the first window', { skip }, async () => {
  const body = { whitelist: [{ verdict: ['FORWARDED'] }] };
  const newest = fromSqlite(body, 'desc');
  const at = (f: FlowRecord): FlowTime => parseTimestamp(f.time)!;
  const range = { since: at(newest[400]), until: at(newest[50]) };
  assert.ok(range.since.seconds % 60 !== 0 || range.until.seconds % 60 !== 0, 'ends inside minutes');
  for (const order of ['asc', 'desc'] as const) {
    const want = sqlite.flows({ filters: FilterSet.parse(body), ...range, order, limit: 100_000, after: null }).flows;
    assert.ok(want.length >= 300);
    const { flows: got } = await allPages((after) => fromClickHouse(body, order, 7, after, 30_000, range), 1000);
    assert.deepEqual(lines(got), lines(want), order);
  }
});

test('a page cut short by its deadline goes on from its position without losing or repeating a flow', { skip }, async () => {
  // A field ClickHouse does not narrow by: every row is a candidate, few match, so windows end before pages fill.
  const body = { whitelist: [{ protocol: ['udp'] }] };
  for (const order of ['asc', 'desc'] as const) {
    const want = fromSqlite(body, order);
    assert.ok(want.length > 0 && want.length < messages.length / 2, `a minority of flows match (${want.length})`);
    // No time at all: every page stops after its first time window.
    const { flows: got, truncated } = await allPages((after) => fromClickHouse(body, order, 1000, after, 0), 10_000);
    assert.ok(truncated > 1, `pages were cut short (${truncated})`);
    assert.deepEqual(lines(got), lines(want), order);
  }
});

test('a resumed writer asks for the overlap again and drops the flows it already stored', { skip }, async () => {
  const count = async (): Promise<number> => Number((await ch.rows<{ n: string }>('SELECT count() AS n FROM flows'))[0].n);
  const before = await count();
  const writer = new ClickHouseFlowWriter(ch, 5);
  const since = await writer.resume(RELAY);
  assert.ok(since, 'a resume point');
  // The relay replays the last flows again; one new flow comes after them.
  const replay = messages.slice(-30);
  const { buf, offsets } = packBatch(replay);
  const result = await writer.writeBatch(RELAY, buf, offsets);
  assert.equal(result.stored + result.duplicates, replay.length);
  assert.ok(result.duplicates > 0, 'replayed flows are recognised');
  assert.equal(await count(), before + result.stored);
  // Only flows older than the overlap window could pass as new; the corpus' last 30 are all within it.
  assert.equal(result.stored, 0);
});

test('retention drops whole days older than the retention and keeps the rest', { skip }, async () => {
  const days = async (): Promise<string[]> => (await ch.rows<{ d: string }>("SELECT DISTINCT toString(toDate(toDateTime(intDiv(time_ns, 1000000000)))) AS d FROM flows ORDER BY d")).map((r) => r.d);
  const before = await days();
  assert.ok(before.length >= 3, `flows on several days (${before.join(', ')})`);
  const dayEnd = (d: string): number => Date.parse(`${d}T00:00:00Z`) / 1000 + 86_400;
  // The second newest day with flows ends one second short of a day's retention: it stays, every older day goes.
  const second = before[before.length - 2];
  const older = before.slice(0, -2);
  assert.deepEqual(await dropExpiredPartitions(ch, 86_400, dayEnd(second) + 86_400 - 1), older);
  assert.deepEqual(await days(), before.slice(-2));
  // One second later it has ended a whole retention ago and goes too.
  assert.deepEqual(await dropExpiredPartitions(ch, 86_400, dayEnd(second) + 86_400), [second]);
  assert.deepEqual(await days(), before.slice(-1));
});

if (target.server) test('an insert of two batches committed while ClickHouse is down goes in once it is back, and a retry of an insert that landed adds nothing', { skip }, async () => {
  const count = async (): Promise<number> => Number((await ch.rows<{ n: string }>('SELECT count() AS n FROM flows')).at(0)?.n);
  const before = await count();
  const writer = new ClickHouseFlowWriter(ch, 5);
  const prepare = (batch: Buffer[]) => {
    const { buf, offsets } = packBatch(batch);
    return writer.prepare(RELAY, buf, offsets);
  };
  const insert = InsertGroup.of(prepare(messages.slice(0, 40)), prepare(messages.slice(40, 65)));
  assert.equal(insert.rows, 65);
  await opened!.kill!();
  const down = (err: Error & { code?: string }): boolean => err.code === 'FLOWKEEPER_ERR_STORAGE' && /cannot be reached/.test(err.message);
  await assert.rejects(writer.commit(insert), down);
  await assert.rejects(writer.commit(insert), down, 'a retry while it is still down fails the same way');
  await opened!.start!();
  await writer.commit(insert);
  assert.equal(await count(), before + 65);
  // As if the answer to that insert had been lost: the retry finds both batches stored and does not insert them again.
  await writer.commit(insert);
  assert.equal(await count(), before + 65);
  // A later insert is not taken for stored because an earlier one is.
  const next = InsertGroup.of(prepare(messages.slice(65, 70)));
  next.attempts = 1;
  await writer.commit(next);
  assert.equal(await count(), before + 70);
});

test('uuid lookups narrow by a hash ClickHouse computes the same way, so rows stored before the hash column are found too', { skip }, async () => {
  const texts = ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'cd75b2ac-8dd3-486b-beca-3d17d9d56cff', 'CD75B2AC-8DD3-486B-BECA-3D17D9D56CFF', 'flöw-ü-☃', 'x'.repeat(300)];
  const [server] = await ch.rows<Record<string, string>>(`SELECT ${texts.map((t, i) => `bitAnd(murmurHash2_32('${t}'), 65535) AS h${i}`).join(', ')}`);
  assert.deepEqual(texts.map(uuidHash), texts.map((_, i) => Number(server[`h${i}`])));

  // A store migrated before 003 holds rows with their uuid text and no uuid_hash; 003 then adds the column.
  const uuid = 'cd75b2ac-8dd3-486b-beca-3d17d9d56cff';
  const dir = tempDir();
  const old = opened!.client('flowkeeper_pre003');
  try {
    mkdirSync(join(dir.dir, 'm'));
    for (const name of ['001_flows.sql', '002_rollups.sql']) copyFileSync(join(CLICKHOUSE_MIGRATIONS_DIR, name), join(dir.dir, 'm', name));
    const features = featuresOf(await ch.version());
    await migrateClickHouse(old, join(dir.dir, 'm'), features);
    const message = messages.find((m) => (GetFlowsResponseType.decode(m) as unknown as { flow?: { uuid?: string } }).flow?.uuid === uuid)!;
    const t = (GetFlowsResponseType.decode(message) as unknown as { flow: { time: { seconds: number; nanos: number } } }).flow.time;
    const timeNs = BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanos);
    await old.command(`INSERT INTO flows (time_ns, seq, relay, uuid, response) VALUES (${timeNs}, 1, '${RELAY}', '${uuid}', unhex('${message.toString('hex')}'))`);
    assert.deepEqual(await migrateClickHouse(old, CLICKHOUSE_MIGRATIONS_DIR, features), ['003_uuid_hash.sql', '004_endpoint_clusters.sql', '005_lost_events.sql', '006_class_hash.sql', '007_column_codecs.sql']);
    const found = await queryClickHouseFlows(old, { filters: FilterSet.parse({ whitelist: [{ uuid: [uuid] }] }), ...ALL, order: 'asc', limit: 100, after: null, deadline: Deadline.in(30_000), read: (f) => f.record() });
    assert.deepEqual(lines(found.flows), lines(fromSqlite({ whitelist: [{ uuid: [uuid] }] })));
    assert.equal(found.flows.length, 1);
  } finally {
    await old.command('DROP DATABASE IF EXISTS flowkeeper_pre003');
    dir.cleanup();
  }
});

test('lost-events counts go into lost_events once, even when a retry follows an insert whose answer was lost', { skip }, async () => {
  const writer = new ClickHouseFlowWriter(ch, 5);
  const t = Math.floor(Date.now() / 1000);
  const lost = (n: number, node: string): Buffer => Buffer.from(GetFlowsResponseType.encode(GetFlowsResponseType.fromObject({ lost_events: { source: 3, num_events_lost: n }, node_name: node, time: { seconds: t, nanos: 0 } })).finish());
  const sum = async (): Promise<number> => Number((await ch.rows<{ n: string }>("SELECT sum(events) AS n FROM lost_events WHERE relay = 'lost-test'"))[0].n);
  // A batch of lost events alone, and one with a flow beside them.
  const prepare = (batch: Buffer[]) => {
    const { buf, offsets } = packBatch(batch);
    return writer.prepare('lost-test', buf, offsets);
  };
  const lonely = prepare([lost(7, 'n1'), lost(2, 'n1'), lost(1, 'n2')]);
  assert.deepEqual(lonely.result.lostEvents, [{ source: 3, node: 'n1', events: 9 }, { source: 3, node: 'n2', events: 1 }]);
  const alone = InsertGroup.of(lonely);
  await writer.commit(alone);
  assert.equal(await sum(), 10);
  // Two batches in one insert, each with lost events, one with a flow.
  const mixed = InsertGroup.of(prepare([lost(4, 'n3'), messages[messages.length - 1]]), prepare([lost(5, 'n4')]));
  await writer.commit(mixed);
  assert.equal(await sum(), 19);
  await writer.commit(mixed);
  await writer.commit(alone);
  assert.equal(await sum(), 19, 'retries of inserts that landed add nothing');
});

test('two writers storing one relay at once are noticed; a writer taking over after another is not', { skip }, async () => {
  const db = opened!.client('flowkeeper_shared');
  try {
    await migrateClickHouse(db, CLICKHOUSE_MIGRATIONS_DIR, featuresOf(await ch.version()));
    const now = Date.now();
    // Simulator flows over the last 40 s, 200 ms apart: `count` batches of 20 from `fromMs`.
    const batches = (seed: number, fromMs: number, count: number): Buffer[][] => {
      const gen = new TrafficGenerator(seed);
      const out: Buffer[][] = [];
      for (let b = 0; b < count; b++) {
        const batch: Buffer[] = [];
        for (let i = 0; batch.length < 20; i++) {
          for (const f of gen.next(fromMs + (b * 20 + i) * 200)) batch.push(simulatorResponse(f));
        }
        out.push(batch.slice(0, 20));
      }
      return out;
    };
    let stored = 0;
    const write = async (writer: ClickHouseFlowWriter, relay: string, list: Buffer[][]): Promise<void> => {
      for (const batch of list) {
        const { buf, offsets } = packBatch(batch);
        stored += (await writer.writeBatch(relay, buf, offsets)).stored;
      }
    };
    // Two instances on relay "shared", each storing the same 40 s; "restarted": one writer for the first 20 s, another after it; "alone": one writer.
    const [a, b, c, d, e, f] = Array.from({ length: 6 }, () => new ClickHouseFlowWriter(db, 5));
    await write(a, 'shared', batches(1, now - 40_000, 10));
    await write(b, 'shared', batches(1, now - 40_000, 10));
    await write(c, 'restarted', batches(2, now - 40_000, 5));
    await write(d, 'restarted', batches(2, now - 20_000, 5));
    await write(e, 'alone', batches(3, now - 40_000, 10));
    // A relay whose flows are three hours old: beyond what a refresh reads of recent flows.
    await write(f, 'archive', batches(4, now - 3 * 3_600_000, 2));
    const facts = new ClickHouseFacts(db, null);
    assert.deepEqual(facts.relaysWrittenTwice(), []);
    // The facts' other statements (counts, edges, disk, namespaces, lost events) run on this server too.
    await facts.refresh();
    assert.equal((facts.describe() as { refreshError: string | null }).refreshError, null);
    assert.equal(facts.count(), stored);
    assert.ok(facts.namespacesSince(Math.floor(now / 60_000) - 2).length > 3, 'namespaces seen in the last minutes');
    const nanos = (t: FlowTime | null | undefined): string => (t ? String(toNanos(t)) : 'none');
    const [edges] = await db.rows<{ oldest: string; newest: string }>('SELECT min(time_ns) AS oldest, max(time_ns) AS newest FROM flows');
    assert.deepEqual([nanos(facts.edge('asc')), nanos(facts.edge('desc'))], [edges.oldest, edges.newest]);
    // Each relay's newest flow, the archive's too (read over the whole table once, in the background).
    const newest = await db.rows<{ relay: string; t: string }>('SELECT relay, max(time_ns) AS t FROM flows GROUP BY relay ORDER BY relay');
    const checkpoints = (): string[] => Object.entries(facts.checkpoints()).map(([relay, t]) => `${relay} ${nanos(t)}`).sort();
    await waitFor('the archive relay\'s checkpoint', () => checkpoints().length === newest.length, 10_000).catch(() => undefined);
    assert.deepEqual(checkpoints(), newest.map((r) => `${r.relay} ${r.t}`));
    await facts.checkSharedRelays(now);
    assert.deepEqual(facts.relaysWrittenTwice(), [{ relay: 'shared', writers: 2 }]);
    assert.deepEqual((facts.describe() as { relaysWrittenTwice: unknown }).relaysWrittenTwice, [{ relay: 'shared', writers: 2 }]);
    // A minute later, nothing is written twice any more.
    await facts.checkSharedRelays(now + 120_000);
    assert.deepEqual(facts.relaysWrittenTwice(), []);
  } finally {
    await db.command('DROP DATABASE IF EXISTS flowkeeper_shared');
  }
});

test('migrations apply once, and an applied migration edited afterwards is refused by name', { skip }, async () => {
  const features = featuresOf(await ch.version());
  assert.deepEqual(await migrateClickHouse(ch, CLICKHOUSE_MIGRATIONS_DIR, features), []);
  // Where the server has column codecs (20.1+), every column of flows has one, so none falls back to the server's LZ4.
  if (features.codecs) assert.deepEqual(await ch.rows("SELECT name FROM system.columns WHERE database = 'flowkeeper_test' AND table = 'flows' AND compression_codec = ''"), []);
  const other = opened!.client('flowkeeper_edited');
  assert.deepEqual(await migrateClickHouse(other, CLICKHOUSE_MIGRATIONS_DIR, features), ['001_flows.sql', '002_rollups.sql', '003_uuid_hash.sql', '004_endpoint_clusters.sql', '005_lost_events.sql', '006_class_hash.sql', '007_column_codecs.sql']);
  // Migrations cut short before they were recorded run again whole: statements that already took effect (added columns) are skipped.
  await other.command('DROP TABLE schema_migrations');
  assert.deepEqual(await migrateClickHouse(other, CLICKHOUSE_MIGRATIONS_DIR, features), ['001_flows.sql', '002_rollups.sql', '003_uuid_hash.sql', '004_endpoint_clusters.sql', '005_lost_events.sql', '006_class_hash.sql', '007_column_codecs.sql']);
  await other.command("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (999, '999_gone.sql', 'x', now())");
  await assert.rejects(migrateClickHouse(other, CLICKHOUSE_MIGRATIONS_DIR, features), /999_gone\.sql is recorded as applied but its file is missing/);
});

if (target.server) test('an unreachable server and a refused statement are clear errors', { skip }, async () => {
  const nobody = new ClickHouseHttp({ url: 'http://127.0.0.1:1', database: 'x', user: 'default', password: '', timeoutMs: 2000 });
  await assert.rejects(nobody.version(), (err: Error & { code?: string }) => err.code === 'FLOWKEEPER_ERR_STORAGE' && /127\.0\.0\.1:1 cannot be reached/.test(err.message));
  await assert.rejects(ch.rows('SELECT no_such_column FROM flows'), (err: Error & { code?: string }) => err.code === 'FLOWKEEPER_ERR_STORAGE' && /refused "SELECT no_such_column FROM flows".*HTTP 404|refused .*no_such_column/s.test(err.message));
  assert.throws(() => new ClickHouseHttp({ ...ch.settings, url: 'localhost:8123' }), /is not a URL|must be http/);
});
}

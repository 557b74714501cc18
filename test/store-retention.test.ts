import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MIGRATIONS_DIR } from '../src/paths.js';
import { migrate } from '../src/store/sqlite/migrate.js';
import { openDatabase } from '../src/store/sqlite/sqlite.js';
import { FlowWriter } from '../src/store/sqlite/writer.js';
import { FlowReader } from '../src/store/sqlite/reader.js';
import { GetFlowsResponseType } from '../src/flows/schema.js';
import { TrafficGenerator } from '../src/sim/traffic.js';
import { usedBytes } from '../src/store/sqlite/partitions.js';
import { packBatch } from './helpers/fixtures.js';
import { startSim, startTestApp, tempDir, waitFor } from './helpers/harness.js';

const HOUR = 3600;

/** Encoded flows spread over `hours` consecutive hours ending at `endSeconds`. */
function batchOverHours(endSeconds: number, hours: number, perHour: number): { buf: Buffer; offsets: number[] } {
  const gen = new TrafficGenerator(5);
  const messages: Uint8Array[] = [];
  for (let h = hours - 1; h >= 0; h--) {
    let n = 0;
    while (n < perHour) {
      const at = (endSeconds - h * HOUR - HOUR / 2) * 1000 + n;
      for (const f of gen.next(at)) {
        messages.push(GetFlowsResponseType.encode(GetFlowsResponseType.fromObject({ flow: f.flow, time: f.flow.time })).finish());
        n++;
      }
    }
  }
  return packBatch(messages);
}

function open(dir: string): { writer: FlowWriter; reader: FlowReader; close: () => void; db: ReturnType<typeof openDatabase> } {
  const db = openDatabase(join(dir, 'fk.db'));
  migrate(db, MIGRATIONS_DIR);
  return { db, writer: new FlowWriter(db, 5), reader: new FlowReader(db), close: () => db.close() };
}

test('age retention drops whole hourly partitions and keeps younger ones', () => {
  const { dir, cleanup } = tempDir();
  const { db, writer, reader, close } = open(dir);
  try {
    const now = Math.floor(Date.now() / 1000 / HOUR) * HOUR + 10;
    const { buf, offsets } = batchOverHours(now, 5, 300);
    writer.writeBatch('r', buf, offsets);
    assert.equal(reader.partitions().length, 5);
    const before = reader.count();
    const dropped = writer.enforceRetention({ maxAgeSeconds: 2.5 * HOUR, maxBytes: 0, rollupMaxAgeSeconds: 30 * 86400 }, now);
    assert.equal(dropped.length, 2, 'the two partitions wholly older than 2.5 h are dropped');
    assert.equal(reader.partitions().length, 3);
    const tables = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'flows_%'").pluck().get();
    assert.equal(tables, 3, 'the tables themselves are gone, not just their rows');
    assert.ok(reader.count() < before && reader.count() > 0);
    const oldest = reader.edge('asc')!;
    assert.ok(oldest.seconds >= (Math.floor(now / HOUR) - 3) * HOUR, 'nothing older than the oldest kept partition');
  } finally {
    close();
    cleanup();
  }
});

test('size retention drops the oldest partitions until the store fits, never the newest', () => {
  const { dir, cleanup } = tempDir();
  const { db, writer, reader, close } = open(dir);
  try {
    const now = Math.floor(Date.now() / 1000 / HOUR) * HOUR + 10;
    const { buf, offsets } = batchOverHours(now, 4, 2000);
    writer.writeBatch('r', buf, offsets);
    const full = usedBytes(db);
    const limit = Math.floor(full * 0.85);
    const dropped = writer.enforceRetention({ maxAgeSeconds: 365 * 86400, maxBytes: limit, rollupMaxAgeSeconds: 30 * 86400 }, now);
    assert.ok(dropped.length >= 1);
    assert.ok(usedBytes(db) <= limit, `used ${usedBytes(db)} > limit ${limit}`);
    const newestHour = Math.floor((now - HOUR / 2) / HOUR);
    assert.ok(reader.partitions().includes(newestHour));
    assert.deepEqual(dropped, [...dropped].sort((a, b) => a - b), 'oldest first');
    // Rollups outlive raw flows.
    assert.ok((db.prepare('SELECT sum(flows) FROM rollup_1m').pluck().get() as number) > reader.count());
    // Per-node counts (GetNodes num_flows) go with their partitions.
    assert.equal(db.prepare('SELECT sum(flows) FROM partition_nodes').pluck().get(), reader.count());
    assert.equal(db.prepare('SELECT count(*) FROM partition_nodes WHERE hour NOT IN (SELECT hour FROM partitions)').pluck().get(), 0);
  } finally {
    close();
    cleanup();
  }
});

test('the running service trims a store past its retention as it starts', async () => {
  const { dir, cleanup } = tempDir();
  const dbPath = join(dir, 'fk.db');
  const { writer, reader, close } = open(dir);
  const now = Math.floor(Date.now() / 1000 / HOUR) * HOUR + 10;
  const { buf, offsets } = batchOverHours(now, 6, 200);
  writer.writeBatch('r', buf, offsets);
  assert.equal(reader.partitions().length, 6);
  close();
  const { sim, port } = await startSim();
  const app = await startTestApp(port, dbPath, ['--retention', '3h']);
  try {
    await waitFor('old partitions dropped', () => app.reader!.partitions().length === 3);
    const status = (await (await fetch(`${app.url}/api/v1/status`)).json()) as { store: { partitions: number; oldest: string } };
    assert.equal(status.store.partitions, 3);
    assert.ok(Date.parse(status.store.oldest) >= (Math.floor(now / HOUR) - 3) * HOUR * 1000);
  } finally {
    await app.stop();
    await sim.close();
    cleanup();
  }
});

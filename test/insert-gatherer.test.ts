import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as wait } from 'node:timers/promises';
import { InsertGatherer } from '../src/ingest/insert-gatherer.js';
import type { GatherLimits } from '../src/ingest/insert-gatherer.js';
import type { InsertGroup, PreparedBatch } from '../src/store/clickhouse/writer.js';

/**
 * The gatherer's timing rules, with an insert that records what it was given
 * and finishes when the test says so (ClickHouse itself is exercised in
 * clickhouse-store and clickhouse-serve).
 */
function batchOf(name: string, rows: number): PreparedBatch {
  return { relay: name, result: { stored: rows } } as unknown as PreparedBatch;
}

class Inserts {
  readonly groups: string[][] = [];
  private pending: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  readonly insert = (group: InsertGroup): Promise<void> => {
    this.groups.push(group.batches.map((b) => b.relay));
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  };

  get inFlight(): number {
    return this.pending.length;
  }

  finish(err?: Error): void {
    const next = this.pending.shift();
    assert.ok(next, 'an insert is in flight');
    if (err) next.reject(err);
    else next.resolve();
  }
}

const limits = (over: Partial<GatherLimits> = {}): GatherLimits => ({ rows: 1000, delayMs: 60_000, maxBatches: 100, ...over });

/** Lets queued promise callbacks run. */
const settle = (): Promise<void> => wait(5);

test('batches that come while an insert is in flight go together in the next, once they hold enough rows; one insert at a time', { timeout: 5_000 }, async () => {
  const inserts = new Inserts();
  const gatherer = new InsertGatherer(limits(), inserts.insert);
  const stored: string[] = [];
  const add = (name: string, rows: number): void => {
    void gatherer.add(batchOf(name, rows)).then(() => stored.push(name));
  };
  add('a', 1000);
  assert.deepEqual(inserts.groups, [['a']], 'a full group goes at once');
  add('b', 400);
  add('c', 400);
  add('d', 300);
  await settle();
  assert.equal(inserts.inFlight, 1, 'the next insert waits for the one in flight');
  inserts.finish();
  await settle();
  assert.deepEqual(stored, ['a']);
  assert.deepEqual(inserts.groups, [['a'], ['b', 'c', 'd']]);
  add('e', 10);
  inserts.finish();
  await settle();
  assert.deepEqual(stored, ['a', 'b', 'c', 'd']);
  assert.deepEqual(inserts.groups, [['a'], ['b', 'c', 'd']], 'a small group waits for more rows');
  const draining = gatherer.drain();
  await settle();
  assert.deepEqual(inserts.groups, [['a'], ['b', 'c', 'd'], ['e']]);
  inserts.finish();
  await draining;
  assert.deepEqual(stored, ['a', 'b', 'c', 'd', 'e']);
});

test('a drain sends what is gathered at once and resolves when it is stored', { timeout: 5_000 }, async () => {
  const inserts = new Inserts();
  const gatherer = new InsertGatherer(limits(), inserts.insert);
  const stored = gatherer.add(batchOf('a', 5));
  await settle();
  assert.deepEqual(inserts.groups, []);
  let drained = false;
  const draining = gatherer.drain().then(() => {
    drained = true;
  });
  await settle();
  assert.deepEqual(inserts.groups, [['a']]);
  assert.equal(drained, false, 'not before the insert is done');
  inserts.finish();
  await Promise.all([stored, draining]);
  assert.equal(drained, true);
  await gatherer.drain();
});

test('a lone batch goes after the delay, not before', { timeout: 5_000 }, async () => {
  const inserts = new Inserts();
  const gatherer = new InsertGatherer(limits({ delayMs: 150 }), inserts.insert);
  const started = performance.now();
  const stored = gatherer.add(batchOf('a', 5));
  await wait(60);
  assert.deepEqual(inserts.groups, [], 'still waiting for others to join');
  while (inserts.groups.length === 0 && performance.now() - started < 2000) await wait(5);
  assert.deepEqual(inserts.groups, [['a']], 'sent once the delay is over');
  assert.ok(performance.now() - started >= 145, `sent after ${(performance.now() - started).toFixed(0)} ms`);
  inserts.finish();
  await stored;
});

test('a group goes once it holds half the batches the pipeline may have in flight, however few rows they carry', { timeout: 5_000 }, async () => {
  const inserts = new Inserts();
  const gatherer = new InsertGatherer(limits({ maxBatches: 6 }), inserts.insert);
  const stored = [gatherer.add(batchOf('a', 1)), gatherer.add(batchOf('b', 1))];
  await settle();
  assert.deepEqual(inserts.groups, []);
  stored.push(gatherer.add(batchOf('c', 1)));
  assert.deepEqual(inserts.groups, [['a', 'b', 'c']]);
  inserts.finish();
  await Promise.all(stored);
});

test('an insert given up fails its batches only; the next group still goes', { timeout: 5_000 }, async () => {
  const inserts = new Inserts();
  const gatherer = new InsertGatherer(limits({ rows: 10 }), inserts.insert);
  const first = gatherer.add(batchOf('a', 10));
  const second = gatherer.add(batchOf('b', 10));
  inserts.finish(new Error('refused'));
  await assert.rejects(first, /refused/);
  await settle();
  assert.deepEqual(inserts.groups, [['a'], ['b']]);
  inserts.finish();
  await second;
  await gatherer.drain();
});

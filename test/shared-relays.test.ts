import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedRelays } from '../src/store/clickhouse/shared-relays.js';
import type { WriterSpan } from '../src/store/clickhouse/shared-relays.js';

/** A writer's span of one relay, in seconds from a common start. */
const span = (relay: string, writer: string, first: number, last: number): WriterSpan => ({ relay, writer, first: BigInt(first * 1e9), last: BigInt(last * 1e9) });

test('writers whose flows of one relay span the same seconds are reported, with how many', () => {
  assert.deepEqual(sharedRelays([span('a', '1', 0, 60), span('a', '2', 1, 59), span('b', '3', 0, 60)]), [{ relay: 'a', writers: 2 }]);
  assert.deepEqual(sharedRelays([span('a', '1', 0, 60), span('a', '2', 10, 60), span('a', '3', 20, 60)]), [{ relay: 'a', writers: 3 }]);
});

test('a restart is not two writers: the new writer\'s flows start where the old one\'s end, give or take a few seconds', () => {
  assert.deepEqual(sharedRelays([span('a', '1', 0, 30), span('a', '2', 30, 60)]), []);
  assert.deepEqual(sharedRelays([span('a', '1', 0, 30), span('a', '2', 27, 60)]), [], 'late flows from a slower node: 3 s shared');
  assert.deepEqual(sharedRelays([span('a', '1', 0, 30), span('a', '2', 25, 60)]), [{ relay: 'a', writers: 2 }], '5 s shared is two writers');
});

test('writers of different relays never count together, and one writer is never reported', () => {
  assert.deepEqual(sharedRelays([span('a', '1', 0, 60), span('b', '1', 0, 60), span('c', '2', 0, 60)]), []);
  assert.deepEqual(sharedRelays([]), []);
});

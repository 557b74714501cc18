import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MIGRATIONS_DIR } from '../src/paths.js';
import { migrate } from '../src/store/sqlite/migrate.js';
import { openDatabase } from '../src/store/sqlite/sqlite.js';
import { FlowWriter } from '../src/store/sqlite/writer.js';
import { FlowReader } from '../src/store/sqlite/reader.js';
import { formatTimestamp } from '../src/flows/jsonpb.js';
import { encodeResponse, packBatch } from './helpers/fixtures.js';
import { tempDir } from './helpers/harness.js';

/**
 * Flows that share one timestamp (coarse clocks, replays, imports) take
 * consecutive row slots. Assigning a slot must cost one INSERT per flow, not
 * one per earlier flow at that nanosecond (which made such ingest quadratic).
 * Counted in statements, not timed.
 */
/** `count` flows spread round-robin over `timestamps` consecutive seconds from `start`. */
function batch(start: number, count: number, timestamps: number, first: number): { buf: Buffer; offsets: number[] } {
  const messages: Buffer[] = [];
  for (let i = first; i < first + count; i++) {
    const t = start + (i % timestamps);
    const time = formatTimestamp(t, 0);
    // Distinct ports so no two flows are duplicates of each other.
    messages.push(encodeResponse({
      flow: { time, uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, verdict: 'FORWARDED', node_name: 'k8s1', l4: { TCP: { source_port: 1000 + (i % 60000), destination_port: 80 } } },
      node_name: 'k8s1', time,
    }));
  }
  return packBatch(messages);
}

test('flows sharing a timestamp cost one INSERT each, also across batches and after a restart', () => {
  const { dir, cleanup } = tempDir();
  const db = openDatabase(join(dir, 'fk.db'));
  try {
    migrate(db, MIGRATIONS_DIR);
    const start = Math.floor(Date.now() / 1000) - 600;
    const writer = new FlowWriter(db, 5);
    // 20,000 flows on 10 timestamps (2,000 each, near the 2,048 a nanosecond holds), in 10 batches that all share them.
    for (let b = 0; b < 10; b++) {
      const { buf, offsets } = batch(start, 2000, 10, b * 2000);
      writer.writeBatch('r', buf, offsets);
    }
    const reader = new FlowReader(db);
    assert.equal(reader.count(), 20_000);
    assert.equal(writer.insertAttempts, 20_000, 'one statement per flow (probing from slot 0 would run ~20,000,000)');
    // A restarted writer has no slot cache: it probes the taken slots once per timestamp, then goes on in constant time.
    const restarted = new FlowWriter(db, 5);
    const { buf, offsets } = batch(start, 40, 1, 20_000); // 40 more on a timestamp that holds 2,000
    restarted.writeBatch('r2', buf, offsets);
    assert.equal(reader.count(), 20_040);
    assert.ok(restarted.insertAttempts <= 40 + 2000, `at most one probe per slot already taken (${restarted.insertAttempts})`);
  } finally {
    db.close();
    cleanup();
  }
});

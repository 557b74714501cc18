import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RowBinaryReader, RowBinaryWriter, rowBinaryString } from '../src/store/clickhouse/row-binary.js';

// Lengths around the varint's steps (127/128, 16383/16384) and the copy loop's limit (32 bytes), in ASCII and beyond.
const VALUES = ['', 'a', 'payments', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(33), 'y'.repeat(127), 'y'.repeat(128), 'é'.repeat(64), 'z'.repeat(16_383), 'z'.repeat(16_384), 'ü€𝄞'.repeat(3000)];

test('a string encoded once for RowBinary is the bytes RowBinaryWriter.string writes, and reads back', () => {
  const once = new RowBinaryWriter();
  const direct = new RowBinaryWriter();
  for (const v of VALUES) {
    once.encoded(rowBinaryString(v));
    once.uint8(0xee);
    direct.string(v);
    direct.uint8(0xee);
  }
  const bytes = once.finish();
  assert.deepEqual(bytes, direct.finish());
  const reader = new RowBinaryReader(bytes);
  for (const v of VALUES) {
    assert.equal(reader.bytes().toString('utf8'), v);
    assert.equal(reader.uint8(), 0xee);
  }
  assert.ok(reader.done);
});

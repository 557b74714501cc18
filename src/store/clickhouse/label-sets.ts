import { createHash } from 'node:crypto';
import type { ClickHouseHttp } from './http.js';
import { RowBinaryWriter } from './row-binary.js';

/** A label set's id: the first 8 bytes of the SHA-1 of its labels as a JSON array (never 0, which means "no endpoint"). */
export function labelSetHash(json: string): bigint {
  const h = createHash('sha1').update(json).digest().readBigUInt64LE(0);
  return h === 0n ? 1n : h;
}

/**
 * The writer's side of label_sets: flows carry a label set's hash, and each
 * label set is written once per writer, in the same commit as (and before)
 * the first flows that use it. A commit that fails puts its new label sets
 * back, so the retry writes them again.
 */
export class LabelSets {
  private readonly written = new Set<bigint>();
  private pending = new Map<bigint, string>();

  id(json: string): bigint {
    const hash = labelSetHash(json);
    if (!this.written.has(hash) && !this.pending.has(hash)) this.pending.set(hash, json);
    return hash;
  }

  /** Label sets first used since the last call (to write with the batch that uses them). */
  take(): Map<bigint, string> {
    const out = this.pending;
    this.pending = new Map();
    for (const h of out.keys()) this.written.add(h);
    return out;
  }

  /** A batch carrying these was given up: they are written with a later one. */
  restore(sets: Map<bigint, string>): void {
    for (const [h, json] of sets) {
      this.written.delete(h);
      this.pending.set(h, json);
    }
  }
}

/** Inserts label sets (ReplacingMergeTree: writing one twice is harmless). */
export async function insertLabelSets(ch: ClickHouseHttp, sets: Map<bigint, string>): Promise<void> {
  if (sets.size === 0) return;
  const w = new RowBinaryWriter();
  for (const [hash, json] of sets) {
    w.uint64(hash);
    w.string(json);
  }
  await ch.insert('label_sets', ['hash', 'labels'], w.finish());
}

/** The labels of these label sets, read from `table` (label_sets, or its Distributed table). */
export async function readLabelSets(ch: ClickHouseHttp, table: string, hashes: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < hashes.length; i += 1000) {
    const chunk = hashes.slice(i, i + 1000);
    const rows = await ch.rows<{ hash: string; labels: string }>(`SELECT hash, any(labels) AS labels FROM ${table} WHERE hash IN (${chunk.join(', ')}) GROUP BY hash`);
    for (const r of rows) out.set(r.hash, JSON.parse(r.labels) as string[]);
  }
  return out;
}

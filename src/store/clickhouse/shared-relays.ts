import { secondsBeforeNanos } from '../../query/time.js';
import type { ClickHouseHttp } from './http.js';
import { WRITER_ID_SHIFT } from './writer.js';

/**
 * Relays that two flowkeepers follow at once. Each writer stamps its rows with
 * its own id (the high bits of seq), so the flows of one relay, over a recent
 * window, come from one writer at a time: after a restart the new writer's
 * flows start where the old one's end (the resumed overlap is dropped as
 * duplicates). Two writers whose flows of one relay span the same seconds are
 * two instances storing the same flows twice, which ClickHouse does not
 * deduplicate across writers: status, /metrics and the log say so.
 */

/** How far back the check looks (every SHARED_RELAYS_CHECK_MS, facts.ts: a short window keeps it cheap at any rate). */
export const WINDOW_SECONDS = 60;
/** Time two writers' flows of a relay must share to count as concurrent (a restart shares at most the few seconds a relay's nodes are apart). */
const MIN_SHARED_NS = 5_000_000_000n;

export interface WriterSpan {
  relay: string;
  writer: string;
  first: bigint;
  last: bigint;
}

export interface SharedRelay {
  relay: string;
  /** Writers whose flows of this relay overlap in time (2 or more). */
  writers: number;
}

/** The relays whose writers' spans overlap by MIN_SHARED_NS or more, with how many writers overlap. */
export function sharedRelays(spans: readonly WriterSpan[]): SharedRelay[] {
  const byRelay = new Map<string, WriterSpan[]>();
  for (const s of spans) byRelay.set(s.relay, [...(byRelay.get(s.relay) ?? []), s]);
  const out: SharedRelay[] = [];
  for (const [relay, list] of [...byRelay].sort(([a], [b]) => a.localeCompare(b))) {
    const overlapping = list.filter((a) => list.some((b) => b !== a && minBig(a.last, b.last) - maxBig(a.first, b.first) >= MIN_SHARED_NS));
    if (overlapping.length >= 2) out.push({ relay, writers: overlapping.length });
  }
  return out;
}

/** Each writer's first and last flow per relay over the last WINDOW_SECONDS (`flows`: the table or its Distributed twin). */
export async function readWriterSpans(ch: ClickHouseHttp, flows: string, nowMs = Date.now()): Promise<WriterSpan[]> {
  const since = secondsBeforeNanos(WINDOW_SECONDS, nowMs);
  const rows = await ch.rows<{ relay: string; writer: string; first: string; last: string }>(
    `SELECT relay, bitShiftRight(seq, ${WRITER_ID_SHIFT}) AS writer, min(time_ns) AS first, max(time_ns) AS last FROM ${flows} WHERE time_ns >= ${since} GROUP BY relay, writer`,
  );
  return rows.map((r) => ({ relay: r.relay, writer: String(r.writer), first: BigInt(r.first), last: BigInt(r.last) }));
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

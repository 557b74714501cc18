import type { FlowRow } from '../flows/row.js';

/** Identity of a flow for de-duplication: its uuid, or time + node + 5-tuple when it has none. */
export function dedupeKey(row: Pick<FlowRow, 'uuid' | 'seconds' | 'nanos' | 'node' | 'srcIp' | 'dstIp' | 'srcPort' | 'dstPort' | 'l4' | 'icmpType'>): string {
  if (row.uuid !== null) return typeof row.uuid === 'string' ? 'u' + row.uuid : 'u' + row.uuid.toString('hex');
  return `t${row.seconds}.${row.nanos}|${row.node}|${row.srcIp}|${row.dstIp}|${row.srcPort}|${row.dstPort}|${row.l4}|${row.icmpType}`;
}

/**
 * The flows already stored at or before a resume point. After a reconnect the
 * relay replays from `since = checkpoint - overlap`; every replayed flow at or
 * before the horizon is checked against these keys, later flows pass untouched.
 */
export class DedupeWindow {
  constructor(
    readonly seconds: number,
    readonly nanos: number,
    private readonly keys: Set<string>,
  ) {}

  covers(seconds: number, nanos: number): boolean {
    return seconds < this.seconds || (seconds === this.seconds && nanos <= this.nanos);
  }

  /** True once the stream has reached `overlapSeconds` past the resume point: the replay is over and the keys can go. */
  replayOver(newest: { seconds: number } | null, overlapSeconds: number): boolean {
    return newest !== null && newest.seconds > this.seconds + overlapSeconds;
  }

  /** True when the key was seen before; remembers it otherwise. */
  seen(key: string): boolean {
    if (this.keys.has(key)) return true;
    this.keys.add(key);
    return false;
  }

  /** Forgets keys remembered by seen() (their batch was rolled back and will be retried). */
  unsee(keys: readonly string[]): void {
    for (const k of keys) this.keys.delete(k);
  }

  get size(): number {
    return this.keys.size;
  }
}

/** How far ahead of this machine's clock a flow may be dated and still be where a relay resumes. */
export const MAX_FUTURE_SKEW_SECONDS = 60;

import { parseDuration } from '../config/units.js';
import { FlowkeeperError, echo } from '../errors.js';
import { parseTimestamp } from '../flows/jsonpb.js';
import type { FlowTime } from '../flows/record.js';

/** `since`/`until` as RFC3339, Unix seconds, or relative to now ("15m" = 15 minutes ago), as hubble observe takes them. */
export function parseTime(text: string, parameter: string, nowMs = Date.now()): FlowTime {
  const t = text.trim();
  const time = parseAnyTime(t, nowMs);
  if (!time) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `${parameter}: ${echo(text)} is not RFC3339, Unix seconds or a duration like 15m`, parameter);
  if (time.seconds < 0 || time.seconds > MAX_SECONDS) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `${parameter}: ${echo(text)} is outside 1970-01-01..9999-12-31`, parameter);
  }
  return time;
}

/** 9999-12-31T23:59:59Z, the last time RFC3339 can write. */
const MAX_SECONDS = 253402300799;

function parseAnyTime(t: string, nowMs: number): FlowTime | null {
  if (t === 'now') return fromMs(nowMs);
  const ts = parseTimestamp(t);
  if (ts) return ts;
  if (/^\d{1,15}(\.\d{1,9})?$/.test(t)) return fromMs(Number(t) * 1000);
  try {
    return fromMs(nowMs - parseDuration(t) * 1000);
  } catch {
    return null;
  }
}

export function fromMs(ms: number): FlowTime {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

export function seconds(t: FlowTime): number {
  return t.seconds + t.nanos / 1e9;
}

const NANOS_PER_SECOND = 1_000_000_000n;

/** A time as nanoseconds since the epoch (exact: past 2^53, hence a bigint). */
export function toNanos(t: FlowTime): bigint {
  return BigInt(t.seconds) * NANOS_PER_SECOND + BigInt(t.nanos);
}

/** The whole second `seconds` before `nowMs`, as nanoseconds since the epoch. */
export function secondsBeforeNanos(seconds: number, nowMs = Date.now()): bigint {
  return BigInt(Math.floor(nowMs / 1000) - seconds) * NANOS_PER_SECOND;
}

/** A minute in nanoseconds (ClickHouse's rollups are keyed by minute since the epoch). */
export const MINUTE_NS = 60n * NANOS_PER_SECOND;

/** The minute since the epoch that a time in nanoseconds falls in (times after 1970). */
export function minuteOfNanos(ns: bigint): number {
  return Number(ns / MINUTE_NS);
}

export function fromNanos(ns: bigint): FlowTime {
  return { seconds: Number(ns / NANOS_PER_SECOND), nanos: Number(ns % NANOS_PER_SECOND) };
}

/** True when `a` is strictly earlier than `b`. */
export function isBefore(a: FlowTime, b: FlowTime): boolean {
  return a.seconds < b.seconds || (a.seconds === b.seconds && a.nanos < b.nanos);
}

/** Refuses a since..until range that runs backwards or is longer than `maxSeconds` (naming the option that sets it). */
export function checkRange(since: FlowTime, until: FlowTime, maxSeconds: number, option = '--query-max-range'): void {
  if (isBefore(until, since)) throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', 'since: is after until', 'since');
  if (until.seconds - since.seconds > maxSeconds) {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `since: the range is longer than the ${maxSeconds / 3600} h limit (${option})`, 'since');
  }
}

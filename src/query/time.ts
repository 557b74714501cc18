import { parseDuration } from '../config/units.js';
import { FlowkeeperError } from '../errors.js';
import { parseTimestamp } from '../flows/jsonpb.js';
import type { FlowTime } from '../flows/record.js';

/** `since`/`until` as RFC3339, Unix seconds, or relative to now ("15m" = 15 minutes ago), as hubble observe takes them. */
export function parseTime(text: string, parameter: string, nowMs = Date.now()): FlowTime {
  const t = text.trim();
  if (t === 'now') return fromMs(nowMs);
  const ts = parseTimestamp(t);
  if (ts) return ts;
  if (/^\d+(\.\d+)?$/.test(t)) return fromMs(Number(t) * 1000);
  try {
    return fromMs(nowMs - parseDuration(t) * 1000);
  } catch {
    throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `${parameter}: "${text}" is not RFC3339, Unix seconds or a duration like 15m`, parameter);
  }
}

export function fromMs(ms: number): FlowTime {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

export function seconds(t: FlowTime): number {
  return t.seconds + t.nanos / 1e9;
}

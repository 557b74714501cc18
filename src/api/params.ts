import { FlowkeeperError } from '../errors.js';
import { FilterSet } from '../query/filter.js';
import { FILTER_PARAMETERS, filtersFromQuery, shorthandFor } from '../query/shorthands.js';
import { checkRange, parseTime } from '../query/time.js';
import type { FlowTime } from '../flows/record.js';
import type { FlowPosition } from '../query/position.js';
import { parsePosition, positionText } from '../query/position.js';

export const MAX_LIMIT = 10_000;
export const DEFAULT_LIMIT = 100;

export type QueryParams = Record<string, string[]>;

/** Fastify's parsed query string as lists of strings. */
export function normalizeQuery(query: unknown): QueryParams {
  const out: QueryParams = {};
  for (const [k, v] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    out[k] = (Array.isArray(v) ? v : [v]).map(String);
  }
  return out;
}

function bad(parameter: string, message: string): never {
  throw new FlowkeeperError('FLOWKEEPER_ERR_BAD_PARAMETER', `${parameter}: ${message}`, parameter);
}

export function single(params: QueryParams, name: string): string | undefined {
  const v = params[name];
  if (!v) return undefined;
  if (v.length > 1) bad(name, 'given more than once');
  return v[0];
}

/** Rejects parameters the endpoint does not know, naming the first one. */
export function rejectUnknown(params: QueryParams, allowed: readonly string[]): void {
  for (const name of Object.keys(params)) {
    const base = name.startsWith('not_') ? name.slice(4) : name;
    if (!allowed.includes(name) && !FILTER_PARAMETERS.includes(base)) bad(name, 'unknown parameter');
  }
}

export function parseLimit(text: string | undefined, fallback = DEFAULT_LIMIT): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) bad('limit', `must be an integer from 1 to ${MAX_LIMIT}`);
  return n;
}

export function parseOrder(text: string | undefined): 'asc' | 'desc' {
  if (text === undefined) return 'desc';
  if (text !== 'asc' && text !== 'desc') bad('order', 'must be asc or desc');
  return text;
}

/** How far back a query may reach: `defaultSeconds` when since is not given, at most `maxSeconds`. */
export interface RangeLimit {
  defaultSeconds: number;
  maxSeconds: number;
  /** The option that sets maxSeconds, for the error message. */
  option: string;
}

/** since/until within the limit; since defaults to until minus the default range. */
export function parseRange(sinceText: string | undefined, untilText: string | undefined, limit: number | RangeLimit): { since: FlowTime; until: FlowTime } {
  const { defaultSeconds, maxSeconds, option } = typeof limit === 'number' ? { defaultSeconds: limit, maxSeconds: limit, option: '--query-max-range' } : limit;
  const until = untilText !== undefined ? parseTime(untilText, 'until') : parseTime('now', 'until');
  const since = sinceText !== undefined ? parseTime(sinceText, 'since') : { seconds: until.seconds - defaultSeconds, nanos: until.nanos };
  checkRange(since, until, maxSeconds, option);
  return { since, until };
}

export interface PageRange {
  since: FlowTime;
  until: FlowTime;
  order: 'asc' | 'desc';
  after: FlowPosition | null;
  /** True when `clamp` shortened a range longer than --query-max-range. */
  clamped?: boolean;
}

const CURSOR_VERSION = 'c3';

/** A cursor carries its position, order, absolute range and the filters' fingerprint, so a page never drifts. */
export function encodeCursor(p: FlowPosition, range: PageRange, filters: FilterSet): string {
  const fields = [CURSOR_VERSION, range.order, positionText(p), range.since.seconds, range.since.nanos, range.until.seconds, range.until.nanos, filters.fingerprint()];
  return Buffer.from(fields.join('.')).toString('base64url');
}

const CURSOR = /^c3\.(asc|desc)\.([a-z0-9_-]{1,45})\.(-?\d+)\.(\d+)\.(-?\d+)\.(\d+)\.([A-Za-z0-9_-]{16})$/;

/**
 * The page to read: from since/until/order, or (continuing) from the cursor,
 * which must have been issued for the same filters and order. A cursor's range
 * wins over since/until, so relative times ("1h") do not move between pages.
 */
export function parsePage(
  text: { since?: string; until?: string; order?: string; cursor?: string; clamp?: boolean },
  filters: FilterSet,
  maxRangeSeconds: number,
): PageRange {
  if (text.cursor === undefined && text.clamp) {
    // A range longer than --query-max-range is cut to its newest (desc) or oldest (asc) part, and said so.
    const order = parseOrder(text.order);
    const { since, until } = parseRange(text.since, text.until, { defaultSeconds: maxRangeSeconds, maxSeconds: Infinity, option: '--query-max-range' });
    if (until.seconds - since.seconds <= maxRangeSeconds) return { since, until, order, after: null };
    if (order === 'desc') return { since: { seconds: until.seconds - maxRangeSeconds, nanos: until.nanos }, until, order, after: null, clamped: true };
    return { since, until: { seconds: since.seconds + maxRangeSeconds, nanos: since.nanos }, order, after: null, clamped: true };
  }
  if (text.cursor === undefined) return { ...parseRange(text.since, text.until, maxRangeSeconds), order: parseOrder(text.order), after: null };
  if (text.cursor.length > 200) bad('cursor', 'not a cursor returned by this API');
  const m = CURSOR.exec(Buffer.from(text.cursor, 'base64url').toString('latin1'));
  if (!m) bad('cursor', 'not a cursor returned by this API (cursors of older versions are not accepted; start again without cursor)');
  const order = m[1] as 'asc' | 'desc';
  if (text.order !== undefined && parseOrder(text.order) !== order) bad('cursor', `was issued for order=${order}`);
  if (m[7] !== filters.fingerprint()) bad('cursor', 'was issued for other filters: send the same filters as for the first page');
  const after = parsePosition(m[2]);
  if (!after) bad('cursor', 'not a cursor returned by this API');
  const since = { seconds: Number(m[3]), nanos: Number(m[4]) };
  const until = { seconds: Number(m[5]), nanos: Number(m[6]) };
  if (until.seconds - since.seconds > maxRangeSeconds || since.seconds > until.seconds) bad('cursor', 'its range is not allowed (--query-max-range)');
  return { since, until, order, after };
}

/** Filters from query-string shorthands; errors name the parameter the user gave (ip, not FlowFilter source_ip). */
export function filtersFromParams(params: QueryParams): FilterSet {
  const only: QueryParams = {};
  for (const [k, v] of Object.entries(params)) {
    const base = k.startsWith('not_') ? k.slice(4) : k;
    if (FILTER_PARAMETERS.includes(base)) only[k] = v;
  }
  try {
    return FilterSet.parse(filtersFromQuery(only));
  } catch (err) {
    const field = err instanceof FlowkeeperError ? err.parameter : undefined;
    const given = field ? shorthandFor(field, only) : undefined;
    if (!given || given === field) throw err;
    const detail = (err as FlowkeeperError).message.replace(/^(?:(?:whitelist|blacklist)\[\d+\]\.)?\w+(?:\[\d+\])?: /, '');
    throw new FlowkeeperError((err as FlowkeeperError).code, `${given}: ${detail}`, given);
  }
}

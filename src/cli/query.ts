import WebSocket from 'ws';
import { FILTER_PARAMETERS } from '../query/shorthands.js';
import type { FlowRecord } from '../flows/record.js';
import { compactLine } from './compact.js';
import { readFlags } from './flags.js';
import { summarize } from '../flows/summary.js';

export const QUERY_USAGE = `Usage: flowkeeper query [flags]   (like hubble observe, against a running flowkeeper)

  --server URL          flowkeeper API (default $FLOWKEEPER_SERVER or http://localhost:8080)
  --token TOKEN         bearer token (default $FLOWKEEPER_API_TOKEN)
  --since T, --until T  RFC3339 or relative (15m, 2h); alone, every flow in the range
  --last N              the newest N flows (of the range), printed oldest first
  --first N             the oldest N flows (of the range)
  --all                 every stored flow (of the range)
                        with none of these (and no -f): --last 20, as hubble observe
  -f, --follow          stream new flows (WebSocket) after the history (alone: only new flows)
  -o, --output FORMAT   compact (default), jsonpb (or json: hubble observe -o jsonpb lines),
                        summary (one compact JSON object per flow, as the API's format=summary)
  --not                 negate the next filter flag
  filters: ${FILTER_PARAMETERS.filter((p) => !p.includes('all_namespaces') && p !== 'encrypted').map((p) => '--' + p.replace(/_/g, '-')).join(' ')}
  boolean: --all-namespaces (-A), --from-all-namespaces, --to-all-namespaces, --encrypted, --unencrypted
  -n is --namespace, -t is --type, -l is --label
`;

/** What `hubble observe` prints with no --last/--first/--since. */
const DEFAULT_LAST = 20;

const ALIASES: Record<string, string> = { f: 'follow', o: 'output' };

interface QueryArgs {
  server: string;
  token: string;
  output: 'compact' | 'jsonpb' | 'summary';
  follow: boolean;
  /** Filters and since/until, as query parameters. */
  params: URLSearchParams;
  /** Which stored flows to print before following: none, the newest or oldest N, or all of the range. */
  history: { kind: 'none' } | { kind: 'last' | 'first'; count: number } | { kind: 'all' };
}

/** Flows one API page may hold (the server's limit). */
const PAGE_LIMIT = 10_000;

function count(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got "${text}"`);
  return n;
}

export function parseQueryArgs(argv: string[], env: NodeJS.ProcessEnv): QueryArgs {
  const out: QueryArgs = {
    server: env.FLOWKEEPER_SERVER ?? 'http://localhost:8080', token: env.FLOWKEEPER_API_TOKEN ?? '', output: 'compact', follow: false,
    params: new URLSearchParams(), history: { kind: 'none' },
  };
  let last: number | null = null;
  let first: number | null = null;
  let all = false;
  readFlags(argv, ALIASES, out.params, (name, raw, value) => {
    if (name === 'follow') out.follow = true;
    else if (name === 'server') out.server = value();
    else if (name === 'token') out.token = value();
    else if (name === 'output') {
      const o = value();
      if (!['compact', 'jsonpb', 'json', 'summary'].includes(o)) throw new Error(`--output: unknown format "${o}"`);
      out.output = o === 'json' ? 'jsonpb' : (o as QueryArgs['output']);
    } else if (name === 'since' || name === 'until') out.params.set(name, value());
    else if (name === 'last') last = count(raw, value());
    else if (name === 'first') first = count(raw, value());
    else if (name === 'all') all = true;
    else return false;
    return true;
  }, 'query');
  // hubble observe's rules: these three choose one history; --first cannot follow.
  if ([last !== null, first !== null, all].filter(Boolean).length > 1) throw new Error('--last, --first and --all exclude each other');
  if (first !== null && out.follow) throw new Error('--first cannot be combined with --follow');
  const ranged = out.params.has('since') || out.params.has('until');
  if (all) out.history = { kind: 'all' };
  else if (last !== null) out.history = { kind: 'last', count: last };
  else if (first !== null) out.history = { kind: 'first', count: first };
  else if (ranged) out.history = { kind: 'all' };
  else if (!out.follow) out.history = { kind: 'last', count: DEFAULT_LAST };
  return out;
}

function print(flow: FlowRecord, output: QueryArgs['output']): void {
  if (output === 'jsonpb') process.stdout.write(JSON.stringify({ flow, node_name: flow.node_name, time: flow.time }) + '\n');
  else if (output === 'summary') process.stdout.write(JSON.stringify(summarize(flow)) + '\n');
  else process.stdout.write(compactLine(flow) + '\n');
}

interface Page {
  flows: FlowRecord[];
  next: string | null;
}

async function fetchPage(base: string, headers: Record<string, string>, params: URLSearchParams): Promise<Page> {
  let res: Response;
  try {
    res = await fetch(`${base}/api/v1/flows?${params.toString()}`, { headers });
  } catch (err) {
    throw new Error(`cannot reach flowkeeper at ${base}: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`flowkeeper answered ${res.status}: ${text}`);
  return { flows: text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { flow: FlowRecord }).flow), next: res.headers.get('x-next-cursor') };
}

/**
 * Prints the stored part, following cursors (pages, and scans cut short by the
 * server's query budget) until the history asked for is complete. When a count
 * cuts the answer short, stderr says so.
 */
async function printHistory(base: string, headers: Record<string, string>, args: QueryArgs): Promise<void> {
  const h = args.history;
  if (h.kind === 'none') return;
  const newestFirst = h.kind === 'last';
  const want = h.kind === 'all' ? Infinity : h.count;
  const params = new URLSearchParams(args.params);
  params.set('order', newestFirst ? 'desc' : 'asc');
  const kept: FlowRecord[] = [];
  let got = 0;
  let more = false;
  for (;;) {
    params.set('limit', String(Math.min(PAGE_LIMIT, want - got)));
    const page = await fetchPage(base, headers, params);
    got += page.flows.length;
    // Newest-first pages are printed oldest first at the end; the others as they come.
    if (newestFirst) kept.push(...page.flows);
    else for (const f of page.flows) print(f, args.output);
    if (!page.next) break;
    if (got >= want) {
      more = true;
      break;
    }
    params.set('cursor', page.next);
  }
  for (const f of kept.reverse()) print(f, args.output);
  if (more) {
    process.stderr.write(`flowkeeper: printed the ${h.kind === 'last' ? 'newest' : 'oldest'} ${got} matching flows; more match (use --since/--until, --all or a larger --${h.kind})\n`);
  }
}

/** `flowkeeper query`: history from /api/v1/flows (oldest first), then optionally the live stream. */
export async function runQuery(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const args = parseQueryArgs(argv, env);
  const headers: Record<string, string> = args.token ? { authorization: `Bearer ${args.token}` } : {};
  const base = args.server.replace(/\/$/, '');
  await printHistory(base, headers, args);
  if (!args.follow) return;
  const live = new URLSearchParams(args.params);
  live.delete('limit');
  live.delete('since');
  live.delete('until');
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/v1/flows/stream?${live.toString()}`, { headers });
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (m) => {
      const frame = JSON.parse(m.toString()) as { type: string; count?: number; flow?: FlowRecord };
      if (frame.type === 'flow' && frame.flow) print(frame.flow, args.output);
      else if (frame.type === 'lost') process.stderr.write(`flowkeeper: ${frame.count} flows lost (output too slow)\n`);
    });
    ws.on('unexpected-response', (_req, r) => reject(new Error(`live stream refused: HTTP ${r.statusCode}`)));
    ws.on('error', reject);
    ws.on('close', () => resolve());
  });
}
